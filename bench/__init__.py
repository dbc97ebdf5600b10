"""Benchmarks for aad_guard, run with `python -m bench` (`make bench`); never run in CI as tests.

`bench.validate` times `TokenValidator.validate` against the physical floor (decode plus one
RSA verify) and PyJWT's `jwt.decode`, side by side in one run; `bench._harness` holds the
timing loop, the statistics and the report.
"""
