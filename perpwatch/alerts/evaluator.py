"""Evaluation: the leader follows the bus and turns events into queued alerts.

Only the process that holds the scheduler lease evaluates (in memory-only mode, the one
process). It reads each channel from the position stored in Redis, so a new leader
resumes where the old one stopped; an event read twice (a re-read after a crash, two
processes that both believe they lead for a moment) gives the same alert id, which the
outbox enqueues once. The position is saved after the batch's alerts are queued: a crash
in between re-reads, never skips. Stale data is judged every ``ALERT_STALE_CHECK_SECONDS``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from perpwatch.alerts import matching
from perpwatch.alerts.models import AlertPayload, AlertRecord, Candidate
from perpwatch.alerts.outbox import Outbox
from perpwatch.alerts.rules import (
    ArbitrageRule,
    FundingRule,
    SignalChangeRule,
    StaleRule,
    StoredRule,
)
from perpwatch.alerts.state import EvaluationState
from perpwatch.alerts.store import RuleStore
from perpwatch.analysis.alignment import alignment
from perpwatch.analysis.models import Recommendation, SignalChange
from perpwatch.background import Background
from perpwatch.errors import CacheUnavailable
from perpwatch.metrics import record as metric
from perpwatch.push.bus import EventBus
from perpwatch.push.events import Channel, Event
from perpwatch.timeutil import iso_ms

logger = logging.getLogger(__name__)

CHANNELS: tuple[Channel, ...] = ("signals", "funding", "arbitrage")
READ_BLOCK_S = 1.0
BATCH = 500
FOLLOWER_POLL_S = 0.5
# the rules read are reused while their generation stays (see RuleStore.generation), and
# at most this long (a change made behind perpwatch's back, with redis-cli, acts then)
RULES_MAX_REUSE_S = 30.0

# the analyses of a symbol in each timeframe: (recommendation, confidence) pairs
AnalysesOf = Callable[[str], Awaitable[list[tuple[Recommendation, float]]]]


@dataclass(frozen=True, slots=True)
class StaleView:
    """What the stale check judges: when each symbol's analysis was computed."""

    computed_ms: dict[str, int]
    timeframe: str
    exchange: str
    breaker_open: bool


@dataclass(frozen=True, slots=True)
class EvaluationConfig:
    cooldown_ms: int
    seen_ttl_ms: int
    stale_every_s: float


class Evaluator:
    def __init__(
        self,
        *,
        bus: EventBus,
        outbox: Outbox,
        rules: RuleStore,
        state: EvaluationState,
        config: EvaluationConfig,
        is_leader: Callable[[], bool],
        analyses_of: AnalysesOf,
        stale_view: Callable[[Sequence[str] | None], Awaitable[StaleView]],
        on_queued: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._outbox = outbox
        self._rules = rules
        self._state = state
        self._config = config
        self._is_leader = is_leader
        self._analyses_of = analyses_of
        self._stale_view = stale_view
        self._on_queued = on_queued
        self._clock = clock
        self._bgs = [Background(f"perpwatch-alerts:{c}") for c in CHANNELS]
        self._stale_bg = Background("perpwatch-alerts:stale")
        self._rules_memo: tuple[float, int, list[StoredRule]] | None = None
        self._failing: set[str] = set()
        self.queued = 0

    def start(self) -> None:
        for bg, channel in zip(self._bgs, CHANNELS, strict=True):
            bg.start(lambda c=channel, b=bg: self._follow(c, b))  # type: ignore[misc]
        self._stale_bg.start(self._stale_loop)

    async def stop(self) -> None:
        for bg in (*self._bgs, self._stale_bg):
            await bg.stop()

    # --- shared ---------------------------------------------------------------------

    def _failed(self, what: str, e: BaseException) -> None:
        if what not in self._failing:
            logger.warning("alerts: %s failed (%s); retrying until Redis answers", what, e)
        self._failing.add(what)

    def _recovered(self, what: str) -> None:
        if what in self._failing:
            logger.info("alerts: %s works again", what)
            self._failing.discard(what)

    async def _all_rules(self) -> list[StoredRule]:
        """The rules, as of no earlier than this call (read again only when they changed)."""
        now = time.monotonic()
        generation = await self._rules.generation()
        memo = self._rules_memo
        if (
            memo is not None
            and generation is not None
            and memo[1] == generation
            and now - memo[0] < RULES_MAX_REUSE_S
        ):
            return memo[2]
        rules = await self._rules.all()
        self._rules_memo = None if generation is None else (now, generation, rules)
        return rules

    async def enqueue(self, candidates: list[Candidate]) -> int:
        """Queue each candidate (once per id, not within its cooldown); how many were."""
        queued = 0
        for c in candidates:
            now_ms = int(self._clock() * 1000)
            payload = AlertPayload.of(c, created_at_ms=now_ms, created_at=iso_ms(now_ms))
            record = AlertRecord(
                id=payload.id,
                rule_id=c.rule_id,
                state="pending",
                created_at_ms=now_ms,
                next_attempt_ms=now_ms,
                payload=payload,
            )
            outcome = await self._outbox.enqueue(
                record,
                cooldown_digest=c.cooldown_digest,
                cooldown_ms=self._config.cooldown_ms,
                seen_ttl_ms=self._config.seen_ttl_ms,
            )
            if outcome == "queued":
                queued += 1
                metric.alert(c.kind, "queued")
            elif outcome == "cooldown":
                metric.alert(c.kind, "cooldown")
        if queued:
            self.queued += queued
            self._on_queued()
        return queued

    # --- the bus --------------------------------------------------------------------

    async def _place(self, channel: Channel) -> int:
        stored = await self._state.position(channel)
        last = await self._bus.last_seq(channel)
        if stored is None or stored > last:  # first run, or a bus that restarted empty
            await self._state.save_position(channel, last)
            return last
        return stored

    async def _follow(self, channel: Channel, bg: Background) -> None:
        pos: int | None = None
        what = f"following {channel} events"
        while not bg.stopping:
            if not self._is_leader():
                pos = None  # a leader again later reads the stored position
                await asyncio.sleep(FOLLOWER_POLL_S)
                continue
            try:
                if pos is None:
                    pos = await self._place(channel)
                events = await self._bus.after(channel, pos, limit=BATCH)
                if events is None:
                    last = await self._bus.last_seq(channel)
                    logger.warning(
                        "alerts: %s events %d..%d are gone before they were "
                        "evaluated; going on from %d",
                        channel,
                        pos + 1,
                        last,
                        last,
                    )
                    pos = last
                    await self._state.save_position(channel, pos)
                    continue
                if not events:
                    self._recovered(what)
                    await self._bus.wait(channel, pos, timeout_s=READ_BLOCK_S)
                    continue
                rules = await self._all_rules()
                for event in events:
                    await self._evaluate(event, rules)
                pos = events[-1].seq
                await self._state.save_position(channel, pos)
                self._recovered(what)
            except CacheUnavailable as e:
                self._failed(what, e)
                pos = None
                await asyncio.sleep(1.0)
            except Exception:  # must survive surprises, or alerts stop for good
                logger.exception("alerts: evaluating %s events failed unexpectedly", channel)
                pos = None
                await asyncio.sleep(1.0)

    async def _evaluate(self, event: Event, rules: list[StoredRule]) -> None:
        source = f"{event.channel}:{event.seq}"
        try:
            if event.type == "signal_change":
                await self._signal_change(event, rules, source)
            elif event.type == "funding":
                await self._funding(event, rules, source)
            elif event.type == "arbitrage":
                await self._arbitrage(event, rules, source)
        except (ValidationError, ValueError) as e:
            logger.warning("alerts: event %s is malformed, skipped: %s", source, str(e)[:200])

    async def _signal_change(self, event: Event, rules: list[StoredRule], source: str) -> None:
        wanted = [(r.id, r.rule) for r in rules if isinstance(r.rule, SignalChangeRule)]
        if not wanted:
            return
        change = SignalChange.model_validate_json(event.data)
        align: float | None = None
        if any(rule.min_alignment is not None for _, rule in wanted):
            align = alignment(await self._analyses_of(change.symbol))
        found = [
            matching.match_signal_change(
                rule, rule_id=rid, change=change, source=source, alignment=align
            )
            for rid, rule in wanted
        ]
        await self.enqueue([c for c in found if c is not None])

    async def _funding(self, event: Event, rules: list[StoredRule], source: str) -> None:
        table = matching.FundingTable.model_validate_json(event.data)
        previous = await self._state.signs(table.exchange)
        found: list[Candidate] = []
        for r in rules:
            if isinstance(r.rule, FundingRule):
                found += matching.match_funding(
                    r.rule, rule_id=r.id, table=table, previous_signs=previous, source=source
                )
        await self.enqueue(found)
        await self._state.save_signs(table.exchange, matching.next_signs(previous, table))

    async def _arbitrage(self, event: Event, rules: list[StoredRule], source: str) -> None:
        wanted = [r for r in rules if isinstance(r.rule, ArbitrageRule)]
        if not wanted:
            return
        view = matching.ArbitrageView.model_validate_json(event.data)
        found: list[Candidate] = []
        for r in wanted:
            assert isinstance(r.rule, ArbitrageRule)
            found += matching.match_arbitrage(r.rule, rule_id=r.id, view=view, source=source)
        await self.enqueue(found)

    # --- stale data -----------------------------------------------------------------

    async def check_stale(self) -> int:
        """One stale check over the stale rules; how many alerts were queued."""
        stale = [r for r in await self._all_rules() if isinstance(r.rule, StaleRule)]
        if not stale:
            return 0
        extra: set[str] = set()
        for r in stale:
            extra |= set(r.rule.symbols or [])
        view = await self._stale_view(sorted(extra))
        now_ms = int(self._clock() * 1000)
        found: list[Candidate] = []
        for r in stale:
            assert isinstance(r.rule, StaleRule)
            found += matching.match_stale(
                r.rule,
                rule_id=r.id,
                computed_ms=view.computed_ms,
                now_ms=now_ms,
                timeframe=view.timeframe,
                exchange=view.exchange,
                breaker_open=view.breaker_open,
                source=f"stale:{now_ms}",
            )
        return await self.enqueue(found)

    async def _stale_loop(self) -> None:
        while not self._stale_bg.stopping:
            await asyncio.sleep(self._config.stale_every_s)
            if not self._is_leader():
                continue
            try:
                await self.check_stale()
                self._recovered("the stale check")
            except CacheUnavailable as e:
                self._failed("the stale check", e)
            except Exception:
                logger.exception("alerts: the stale check failed unexpectedly")


def recommendations(texts: list[str | None]) -> list[tuple[Recommendation, float]]:
    """``(recommendation, confidence)`` of each cached analysis document there is."""
    out: list[tuple[Recommendation, float]] = []
    for text in texts:
        if text is None:
            continue
        try:
            doc = json.loads(text)
            hama = doc["hama_analysis"]
            rec, conf = hama["recommendation"], float(hama["confidence"])
        except (ValueError, KeyError, TypeError):
            continue
        if rec in ("BUY", "SELL", "HOLD"):
            out.append((rec, conf))
    return out
