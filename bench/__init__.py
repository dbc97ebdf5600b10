"""Benchmarks for aad_guard, run with `python -m bench` (`make bench`); never run as tests.

`bench.run` runs them all in one go: `bench.inprocess` (the API as an ASGI callable,
`validate()`, the floor, `jwt.decode`), `bench.server` (uvicorn on loopback under wrk),
`bench.coldstart` and `bench.memory`; `bench.chart` draws the PNG; `bench._harness` holds
the timing loop, statistics and tables; `bench._app` the API they all serve.
"""
