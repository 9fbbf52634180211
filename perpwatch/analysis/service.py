"""The analysis service: cache first, compute on a miss, one computation per symbol at a time."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from perpwatch.analysis.hama_signal import AnalysisInput, analyze
from perpwatch.analysis.models import AnalysisDocument, SignalChange
from perpwatch.analysis.series import analysis_series
from perpwatch.analysis.signal_change import signal_change
from perpwatch.cache.base import CacheSource
from perpwatch.cache.failover import FailoverCache
from perpwatch.constants import HAMA_ANALYSIS_PREFIX, hama_analysis_key, series_key
from perpwatch.errors import DataNotAvailable, UnknownSymbol
from perpwatch.indicators.hama import HamaParams
from perpwatch.market.candle_store import CandleStore
from perpwatch.metrics import record

logger = logging.getLogger(__name__)

MAX_REMEMBERED_ERRORS = 5000
NEAR_CACHE_MAX = 20_000


class AnalysisEvents(Protocol):
    """Where new analyses are announced (the push publisher)."""

    async def analysis(
        self, symbol: str, timeframe: str, data: str, change: SignalChange | None
    ) -> None: ...


class Unread:
    """The previous analysis was not read by the caller (see :meth:`refresh_here`)."""


UNREAD = Unread()


@dataclass(frozen=True, slots=True)
class Failure:
    at: float  # epoch seconds
    message: str


class ServedAnalysis(AnalysisDocument):
    """An analysis as ``analyze-symbol`` serves it: the document and where it came from."""

    cached: bool
    cache_source: CacheSource | None
    age_seconds: float
    stale: bool
    stale_reason: str | None


@dataclass(frozen=True, slots=True)
class Served:
    """An analysis document and where it came from.

    ``stale``: the value is older than a refresh should have made it
    (``stale_after_s``), or the latest refresh of this symbol failed after it was computed;
    ``stale_reason`` says which. It is still the last good value, served until it expires.
    """

    document: dict[str, Any]
    cached: bool
    source: CacheSource | None  # None: computed for this request
    age_s: float
    stale: bool = False
    stale_reason: str | None = None

    def response(self) -> ServedAnalysis:
        return ServedAnalysis.model_validate(
            {
                **self.document,
                "cached": self.cached,
                "cache_source": self.source,
                "age_seconds": self.age_s,
                "stale": self.stale,
                "stale_reason": self.stale_reason,
            }
        )

    def as_response(self) -> dict[str, Any]:
        """:meth:`response` as JSON values."""
        return self.response().model_dump(mode="json")


class AnalysisService:
    def __init__(
        self,
        *,
        exchange: str,
        candles: CandleStore,
        cache: FailoverCache,
        params: HamaParams,
        ttl_s: float,
        stale_after_s: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        primary: bool = True,
    ) -> None:
        # the primary timeframe keeps the seed's key (hama:analysis:BTCUSDT); another one
        # is stored under hama:analysis:BTCUSDT:1h
        self.primary = primary
        self._key_tf = None if primary else candles.timeframe
        # set in an API-only process (NEAR_CACHE_SECONDS): Redis hits kept in this process
        # that long, symbol -> (until, text, source); the age is still computed per request
        self.near_cache_s = 0.0
        self._near: dict[str, tuple[float, str, CacheSource]] = {}
        self._monotonic = monotonic
        self._exchange = exchange
        self._candles = candles
        self._cache = cache
        self._params = params
        self._clock = clock
        self.ttl_s = ttl_s
        self._stale_after_s = stale_after_s or (lambda: ttl_s)
        self._inflight: dict[str, asyncio.Task[dict[str, Any]]] = {}
        # set in an API-only process: a miss or a forced refresh is computed by the workers
        self.remote: Callable[[str], Awaitable[dict[str, Any]]] | None = None
        # set where push is on: every new analysis (and signal change) is published
        self.events: AnalysisEvents | None = None
        # the last failed refresh of each symbol, as the workers report it (Redis)
        self.shared_errors: dict[str, tuple[float, str]] = {}
        self.hits = 0
        self.misses = 0
        # the same, by the store that answered (the metrics' ``source`` label)
        self.hits_by: dict[CacheSource, int] = {"redis": 0, "memory": 0}
        self.misses_by: dict[CacheSource, int] = {"redis": 0, "memory": 0}
        self.computations = 0
        self.failures = 0
        self.last_errors: dict[str, Failure] = {}

    @property
    def timeframe(self) -> str:
        return self._candles.timeframe

    def _key(self, symbol: str) -> str:
        return hama_analysis_key(symbol, self._key_tf)

    @property
    def hit_rate(self) -> float | None:
        total = self.hits + self.misses
        return None if total == 0 else self.hits / total

    async def get(self, symbol: str, *, force_refresh: bool = False) -> Served:
        """Serve ``symbol``'s analysis: from the cache, or computed now on a miss / force."""
        if not force_refresh:
            hit = await self._cache.get(self._key(symbol))
            if hit is not None:
                doc: dict[str, Any] = json.loads(hit.value)
                self._count_hit(hit.source)
                age = self._age(doc)
                stale, reason = self.staleness(symbol, doc, age)
                return Served(doc, True, hit.source, age, stale, reason)
            self._count_miss()
        doc = await self.refresh(symbol)
        return Served(doc, False, None, self._age(doc))

    def ready_response(self, symbol: str) -> tuple[str, CacheSource] | None:
        """:meth:`cached_response` without an await, where it can answer so: a near copy,
        or a hit while memory is the store. None: ask :meth:`read_response`."""
        near = self._near.get(symbol) if self.near_cache_s > 0 else None
        if near is not None and near[0] > self._monotonic():
            text, source = near[1], near[2]
        elif self._cache.reads_memory:
            hit = self._cache.memory_get(self._key(symbol))
            if hit is None:
                return None
            text, source = hit.value, hit.source
        else:
            return None
        self._count_hit(source)
        return self._served_text(symbol, text, source), source

    async def cached_response(
        self, symbol: str, *, count_miss: bool = True
    ) -> tuple[str, CacheSource] | None:
        """A cache hit as the JSON of the response's ``data``, built without decoding the
        stored document: the served fields are appended to it as text. ``None`` on a miss
        (counted unless ``count_miss`` is false: the caller will look again)."""
        return self.ready_response(symbol) or await self.read_response(
            symbol, count_miss=count_miss
        )

    async def read_response(
        self, symbol: str, *, count_miss: bool = True
    ) -> tuple[str, CacheSource] | None:
        """The rest of :meth:`cached_response` after :meth:`ready_response` found nothing:
        a read of the cache (kept in the near cache when it came from Redis)."""
        hit = await self._cache.get(self._key(symbol))
        if hit is None:
            if count_miss:
                self._count_miss()
            return None
        text, source = hit.value, hit.source
        if self.near_cache_s > 0 and source == "redis":
            if len(self._near) >= NEAR_CACHE_MAX and symbol not in self._near:
                self._near.clear()
            self._near[symbol] = (self._monotonic() + self.near_cache_s, text, source)
        self._count_hit(source)
        return self._served_text(symbol, text, source), source

    def _count_hit(self, source: CacheSource) -> None:
        self.hits += 1
        self.hits_by[source] += 1

    def _count_miss(self) -> None:
        """A miss, by the store that answered it (after a failed Redis call: memory)."""
        self.misses += 1
        self.misses_by[self._cache.source] += 1

    def forget_near(self, symbol: str) -> None:
        """A newer analysis of ``symbol`` exists (its push event came): read Redis next."""
        self._near.pop(symbol, None)

    async def cached_responses(self, symbols: list[str]) -> list[str | None]:
        """:meth:`cached_response` of many symbols with one cache read (no near cache, no
        counting): the push snapshots."""
        hits = await self._cache.mget([self._key(s) for s in symbols])
        return [
            None if hit is None else self._served_text(symbol, hit.value, hit.source)
            for symbol, hit in zip(symbols, hits, strict=True)
        ]

    async def series_text(self, symbol: str, bars: int) -> str:
        """:class:`~perpwatch.analysis.series.AnalysisSeries` of ``symbol`` as JSON, from the
        candles held (no exchange call), computed in a thread and cached until the next
        candle closes. :class:`DataNotAvailable` when no candles of it are held."""
        closed = await self._candles.held_closed(symbol)
        if closed is None:
            raise DataNotAvailable(
                f"no candle history of {symbol} is held yet: it is loaded when {symbol} is "
                "refreshed (watched, or asked for through analyze-symbol)"
            )
        tf = self._candles.timeframe
        key = series_key(tf, symbol, bars, int(closed.open_time[-1]))
        hit = await self._cache.get(key)
        if hit is not None:
            return hit.value
        now_ms = int(self._clock() * 1000)

        def build() -> str:
            return analysis_series(closed, self._params, symbol=symbol, exchange=self._exchange,
                                   timeframe=tf, bars=bars,
                                   computed_at_ms=now_ms).model_dump_json()  # fmt: skip

        text = await asyncio.to_thread(build)
        ttl = min(86400.0, 2 * closed.timeframe_ms / 1000)
        await self._cache.set(key, text, ttl_s=ttl)
        return text

    async def cached_times(self, symbols: list[str]) -> list[tuple[int, str] | None]:
        """Per symbol, its cached analysis's ``timestamp_ms`` and ``candle_close_time``
        (read without decoding the documents); None where nothing is cached."""
        hits = await self._cache.mget([self._key(s) for s in symbols])
        out: list[tuple[int, str] | None] = []
        for hit in hits:
            ts = None if hit is None else timestamp_ms_of(hit.value)
            close = None if hit is None else _string_field(hit.value, _CLOSE_FIELD)
            out.append(None if ts is None or close is None else (ts, close))
        return out

    def _served_text(self, symbol: str, text: str, source: CacheSource) -> str:
        computed_ms = timestamp_ms_of(text)
        age = round(max(0.0, self._clock() - computed_ms / 1000.0), 3) if computed_ms else 0.0
        stale, reason = self._staleness(symbol, (computed_ms or 0) / 1000.0, age)
        return text[:-1] + served_tail(source, age, stale, reason)

    def fresh(self, doc: dict[str, Any]) -> Served:
        """A document just computed, as served."""
        return Served(doc, False, None, self._age(doc))

    async def cached_texts(self, symbols: list[str]) -> list[str | None]:
        """The cached analyses of many symbols as stored (JSON text), None where missing."""
        hits = await self._cache.mget([self._key(s) for s in symbols])
        return [None if h is None else h.value for h in hits]

    @property
    def stale_after_s(self) -> float:
        """A value older than this should have been replaced by a refresh."""
        return self._stale_after_s()

    async def cached(self, symbols: list[str]) -> list[dict[str, Any] | None]:
        """The cached documents of many symbols at once (missing ones are None)."""
        return [None if t is None else json.loads(t) for t in await self.cached_texts(symbols)]

    async def cached_symbols(self) -> list[str]:
        """The symbols with an analysis of this timeframe in the cache."""
        keys = await self._cache.scan_keys(HAMA_ANALYSIS_PREFIX)
        names = (k[len(HAMA_ANALYSIS_PREFIX) :] for k in keys)
        if self._key_tf is None:  # the primary's keys have no timeframe part
            return sorted(n for n in names if ":" not in n)
        tail = f":{self._key_tf}"
        return sorted(n[: -len(tail)] for n in names if n.endswith(tail))

    async def refresh_in_cycle(self, symbol: str, cycle_id: str) -> Literal["ok", "skipped"]:
        """Refresh ``symbol`` for ``cycle_id`` unless the cached analysis already comes from
        that cycle (a shard redone after its worker died): a cycle writes a symbol once."""
        hit = await self._cache.get(self._key(symbol))
        if hit is not None and _cycle_of(hit.value) == cycle_id:
            return "skipped"
        previous = None if hit is None else hit.value  # read already: not read again
        await self.refresh_here(symbol, cycle_id=cycle_id, previous=previous)
        return "ok"

    async def refresh(self, symbol: str) -> dict[str, Any]:
        """Compute ``symbol`` now (here, or by the workers in an API-only process) and write
        it to the cache."""
        self._near.pop(symbol, None)  # this process must see its own refresh at once
        if self.remote is not None:
            doc = await self.remote(symbol)
            self.computations += 1
            return doc
        return await self.refresh_here(symbol)

    async def refresh_here(
        self,
        symbol: str,
        *,
        cycle_id: str | None = None,
        previous: str | Unread | None = UNREAD,
    ) -> dict[str, Any]:
        """Compute ``symbol`` in this process; concurrent calls share one run. ``previous``:
        the cached analysis it replaces, when the caller has just read it (else it is read
        here, to tell a signal change)."""
        task = self._inflight.get(symbol)
        if task is None:
            task = asyncio.create_task(
                self._compute(symbol, cycle_id, previous), name=f"analyze:{symbol}"
            )
            self._inflight[symbol] = task
            task.add_done_callback(lambda _t: self._inflight.pop(symbol, None))
        # shield: a caller that goes away must not cancel a computation others wait on
        return await asyncio.shield(task)

    async def _compute(
        self, symbol: str, cycle_id: str | None, previous: str | Unread | None
    ) -> dict[str, Any]:
        try:
            snap = await self._candles.snapshot(symbol)
            inp = AnalysisInput(
                symbol=symbol,
                exchange=self._exchange,
                timeframe=self._candles.timeframe,
                closed=snap.closed,
                live_price=snap.live_price,
                price_time_ms=snap.fetched_at_ms,
                computed_at_ms=int(self._clock() * 1000),
            )
            if self.events is None:
                previous = None  # nobody to tell of a change
            elif isinstance(previous, Unread):  # what the signal was, to publish a change
                hit = await self._cache.get(self._key(symbol))
                previous = None if hit is None else hit.value
            # indicator maths and encoding run in a thread: the event loop keeps serving
            payload, text, change = await asyncio.to_thread(
                _analyze_and_encode, inp, self._params, cycle_id, previous
            )
        except UnknownSymbol:
            self._candles.forget(symbol)
            raise
        except Exception as e:
            self.failures += 1
            if len(self.last_errors) >= MAX_REMEMBERED_ERRORS:
                self.last_errors.pop(next(iter(self.last_errors)))
            self.last_errors[symbol] = Failure(self._clock(), f"{type(e).__name__}: {e}")
            raise
        self.computations += 1
        self.last_errors.pop(symbol, None)
        if change is not None:
            record.signal_changed(change.timeframe, change.to)
        await self._cache.set(self._key(symbol), text, ttl_s=self.ttl_s)
        self._near.pop(symbol, None)
        if self.events is not None:
            fresh = text[:-1] + served_tail(None, 0.0, False, None)
            await self.events.analysis(symbol, inp.timeframe, fresh, change)
        return payload

    def staleness(self, symbol: str, doc: dict[str, Any], age_s: float) -> tuple[bool, str | None]:
        return self._staleness(symbol, doc.get("timestamp_ms", 0) / 1000, age_s)

    def _staleness(self, symbol: str, computed_at: float, age_s: float) -> tuple[bool, str | None]:
        failure = self.last_errors.get(symbol)
        shared = self.shared_errors.get(symbol)
        if shared is not None and (failure is None or shared[0] > failure.at):
            failure = Failure(shared[0], shared[1])
        if failure is not None and failure.at > computed_at:
            return True, f"latest refresh failed: {failure.message}"
        limit = self._stale_after_s()
        if age_s > limit:
            return True, f"older than {limit:.0f}s: refreshes are not keeping up"
        return False, None

    def now(self) -> float:
        return self._clock()

    def _age(self, doc: dict[str, Any]) -> float:
        ts = doc.get("timestamp_ms")
        if not isinstance(ts, int):
            return 0.0
        return round(max(0.0, self._clock() - ts / 1000.0), 3)


def _analyze_and_encode(
    inp: AnalysisInput, params: HamaParams, cycle_id: str | None, previous: str | None
) -> tuple[dict[str, Any], str, SignalChange | None]:
    doc: AnalysisDocument = analyze(inp, params)
    payload = doc.model_dump(mode="json")
    payload["cycle_id"] = cycle_id
    change = signal_change(previous, payload)
    return payload, json.dumps(payload, separators=(",", ":")), change


def served_tail(source: CacheSource | None, age_s: float, stale: bool, reason: str | None) -> str:
    """The served fields of ``analyze-symbol``'s ``data`` as JSON text, to close a stored
    document whose final ``}`` was cut off (:class:`ServedAnalysis`)."""
    return (
        f',"cached":{"false" if source is None else "true"},'
        f'"cache_source":{"null" if source is None else json.dumps(source)},'
        f'"age_seconds":{age_s!r},"stale":{"true" if stale else "false"},'
        f'"stale_reason":{json.dumps(reason)}}}'
    )


_CYCLE_FIELD = '"cycle_id":"'
_CLOSE_FIELD = '"candle_close_time":"'


def _string_field(text: str, field: str) -> str | None:
    """The value of the last string field ``field`` (its ``"name":"`` prefix) in ``text``."""
    at = text.rfind(field)
    if at < 0:
        return None
    start = at + len(field)
    end = text.find('"', start)
    return text[start:end] if end > start else None


def _cycle_of(text: str) -> str | None:
    """The ``cycle_id`` of a cached analysis, read without decoding the whole document
    (perpwatch writes it compactly, as the last field)."""
    return _string_field(text, _CYCLE_FIELD)


_TIMESTAMP_FIELD = '"timestamp_ms":'
_DIGITS = re.compile(r"\d+")


def timestamp_ms_of(text: str) -> int | None:
    """The top-level ``timestamp_ms`` of a cached analysis, read without decoding it
    (the document's only field of that name)."""
    at = text.rfind(_TIMESTAMP_FIELD)
    found = _DIGITS.match(text, at + len(_TIMESTAMP_FIELD)) if at >= 0 else None
    return int(found.group()) if found else None
