"""The OpenTelemetry instruments of one meter provider, and what the observable ones read.

Only `_telemetry` imports this, and only once opentelemetry-api has imported: the meter's
types are the API's.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Mapping, Sized
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation

__all__ = ["Instruments", "KeySource", "SizedSource", "instruments_of"]

# Seconds. A cached token takes microseconds, a fresh one a fraction of a millisecond, a
# request that waits for a cold fetch up to the fetch timeout.
_AUTHENTICATION_BUCKETS: Final = (
    0.000_005, 0.00001, 0.000_025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# The buckets the HTTP semantic conventions advise for request durations.
_FETCH_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip


class KeySource:
    """What a key store shows the key-age gauge: its age now, and its attributes.

    Args:
        age: Seconds since the key set being served was fetched; `None` before the first.
        attributes: `server.address` and `aad_guard.tenant` of the store.
    """

    def __init__(self, age: Callable[[], float | None], attributes: Mapping[str, str]) -> None:
        self.age = age
        self.attributes = dict(attributes)


class Instruments:
    """The instruments of one meter, and the sources its observable instruments read.

    The SDK keeps only the first registration of an instrument name on a meter, callbacks
    included; so one `Instruments` per meter provider serves every validator, and its
    callbacks read the sources (held weakly: a closed validator drops out) of all of them.
    """

    def __init__(self, meter: Meter) -> None:
        self.key_sources: weakref.WeakSet[KeySource] = weakref.WeakSet()
        self.caches: weakref.WeakSet[SizedSource] = weakref.WeakSet()
        self.authentication = meter.create_histogram(
            "aad_guard.authentication.duration",
            unit="s",
            description="Time to authenticate a request's bearer token.",
            explicit_bucket_boundaries_advisory=list(_AUTHENTICATION_BUCKETS),
        )
        self.authorization = meter.create_counter(
            "aad_guard.authorization.attempts",
            unit="{request}",
            description="Route requirements checked against a caller.",
        )
        self.fetch = meter.create_histogram(
            "aad_guard.keys.fetch.duration",
            unit="s",
            description="Time to fetch the OpenID metadata and the JWKS, together.",
            explicit_bucket_boundaries_advisory=list(_FETCH_BUCKETS),
        )
        self.stale = meter.create_counter(
            "aad_guard.keys.stale_validations",
            unit="{validation}",
            description="Tokens checked with a key set kept because its refresh failed.",
        )
        meter.create_observable_gauge(
            "aad_guard.keys.age",
            callbacks=[self._observe_key_age],
            unit="s",
            description="Age of the key set being served.",
        )
        meter.create_observable_up_down_counter(
            "aad_guard.token_cache.size",
            callbacks=[self._observe_cache_size],
            unit="{token}",
            description="Verified tokens held in the token cache.",
        )

    def _observe_key_age(self, _options: CallbackOptions) -> Iterator[Observation]:
        from opentelemetry.metrics import Observation  # noqa: PLC0415 (opentelemetry-api is an optional extra)

        for source in list(self.key_sources):
            age = source.age()
            if age is not None:
                yield Observation(age, source.attributes)

    def _observe_cache_size(self, _options: CallbackOptions) -> Iterator[Observation]:
        from opentelemetry.metrics import Observation  # noqa: PLC0415 (opentelemetry-api is an optional extra)

        for cache in list(self.caches):
            yield Observation(len(cache.sized), cache.attributes)


class SizedSource:
    """A token cache, seen by the size instrument (weakly, through this holder)."""

    def __init__(self, sized: Sized, attributes: Mapping[str, str]) -> None:
        self.sized = sized
        self.attributes = dict(attributes)


def instruments_of(provider: object, meter: Meter) -> Instruments:
    """The one `Instruments` of `provider`, kept on the provider object.

    A provider hands out one meter per name and version, and an SDK meter ignores a second
    registration of an instrument name (its callbacks too): so the instruments and the
    sources they read are kept with the provider, and live as long as it does.
    """
    existing = getattr(provider, "_aad_guard_instruments", None)
    if isinstance(existing, Instruments):
        return existing
    instruments = Instruments(meter)
    with contextlib.suppress(AttributeError):  # a provider with slots: one set per validator
        provider._aad_guard_instruments = instruments  # type: ignore[attr-defined]  # noqa: SLF001 (ours)
    return instruments
