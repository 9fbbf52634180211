"""Request weight budgeted against the exchange's own count of the IP's usage.

Binance limits request weight per IP in fixed windows (2400 per UTC minute on USD-M,
published in ``exchangeInfo.rateLimits``) and reports the window's total so far in every
answer's ``X-MBX-USED-WEIGHT-1M`` header. That total includes every process on the IP
(other replicas, other tools), which ccxt's own limiter cannot know about. This budget
holds a request back when the IP's reported usage plus the weight of our requests in
flight plus the request's own weight would pass ``limit × (1 − headroom)``, until the
window resets; so perpwatch stops short of a 429 instead of being told to.

- Windows follow the exchange's clock: the offset is learned from ``exchangeInfo``'s
  ``serverTime``, and a new window is assumed only ``margin_s`` after the boundary.
- Until an answer reports the IP's usage in a new window, at most ``blind_weight`` (half
  the headroom) is sent in it: whatever the other processes sent in that window so far
  fits in the other half. (Not a single probe: one hanging request would stall all.)
- An answer without the header (a fault, a timeout) is assumed to have been counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from perpwatch.metrics import record

logger = logging.getLogger(__name__)

HEADER_RE = re.compile(r"^x-mbx-used-weight-(\d+)([smhd])$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_INTERVAL_S = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}
BINANCE_DEFAULT_LIMIT = 2400  # USD-M futures REQUEST_WEIGHT per minute, as published


@dataclass(slots=True)
class Ticket:
    """One admitted request."""

    weight: float
    window: int
    sent_at: float
    observed: bool = False


def used_weight(headers: Mapping[str, str]) -> tuple[int, float] | None:
    """``(used, window seconds)`` from an ``X-MBX-USED-WEIGHT-<n><unit>`` header."""
    for name, value in headers.items():
        m = HEADER_RE.match(name)
        if m and value.strip().isdigit():
            return int(value), float(int(m.group(1)) * _UNIT_S[m.group(2).lower()])
    return None


class WeightBudget:
    def __init__(
        self,
        name: str,
        *,
        limit: int | None = None,
        default_limit: int = BINANCE_DEFAULT_LIMIT,
        window_s: float = 60.0,
        headroom: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._override = limit
        self.limit = min(limit, default_limit) if limit else default_limit
        self.window_s = window_s
        self.headroom = headroom
        self._clock = clock
        self._offset_s = 0.0
        self._window = -1
        self._seen: float | None = None  # the IP's usage in this window, as last reported
        self._pending: dict[int, float] = {}  # window -> weight of our requests in flight
        self._changed = asyncio.Event()
        self._logged_window = -1
        self.max_used_seen = 0
        self.waits = 0  # requests held back by the budget
        self.held_windows = 0  # windows in which the IP's usage reached the ceiling

    @property
    def ceiling(self) -> float:
        return self.limit * (1.0 - self.headroom)

    @property
    def blind_weight(self) -> float:
        return self.limit * self.headroom / 2

    @property
    def margin_s(self) -> float:
        return min(1.0, max(0.05, self.window_s * 0.01))

    def _roll(self) -> tuple[int, float]:
        """(window index, seconds until it ends) by the exchange's clock, less the margin."""
        now = self._clock() + self._offset_s - self.margin_s
        window = int(now // self.window_s)
        if window != self._window:
            self._window, self._seen = window, None
        return window, (window + 1) * self.window_s - now

    # --- learning the limits ---------------------------------------------------------

    def learn_exchange_info(self, body: str, ticket: Ticket | None) -> None:
        """Limit and window from ``rateLimits``; the exchange's clock from ``serverTime``."""
        try:
            info = json.loads(body)
        except ValueError:
            return
        if not isinstance(info, dict):
            return
        for rl in info.get("rateLimits") or []:
            if not isinstance(rl, dict) or rl.get("rateLimitType") != "REQUEST_WEIGHT":
                continue
            unit = _INTERVAL_S.get(rl.get("interval", ""))
            num, limit = rl.get("intervalNum"), rl.get("limit")
            if unit and isinstance(num, int) and isinstance(limit, int) and num > 0 and limit > 0:
                self._set(limit, float(unit * num))
                break
        server_ms = info.get("serverTime")
        if isinstance(server_ms, int) and ticket is not None:
            self._offset_s = server_ms / 1000 - (ticket.sent_at + self._clock()) / 2

    def _set(self, published: int, window_s: float) -> None:
        limit = min(self._override, published) if self._override else published
        if (limit, window_s) != (self.limit, self.window_s):
            logger.info(
                "%s: request weight limit %d per %.0fs window (published %d)",
                self.name,
                limit,
                window_s,
                published,
            )
            self.limit, self.window_s, self._window = limit, window_s, -1

    # --- admitting requests ----------------------------------------------------------

    async def acquire(self, weight: float) -> Ticket:
        waited = False
        while True:
            window, left = self._roll()
            pending = self._pending.get(window, 0.0)
            if self._seen is None:
                if pending <= 0 or pending + weight <= self.blind_weight:
                    break
            elif self._seen + pending + weight <= self.ceiling:
                break
            elif not waited:
                waited = True
                self.waits += 1
                if self._seen + weight > self.ceiling and self._logged_window != window:
                    self._logged_window = window
                    self.held_windows += 1
                    logger.info(
                        "%s: the IP has used %d of %d request weight in this window (every "
                        "process on it counts); holding requests %.1fs until it resets",
                        self.name,
                        self._seen,
                        self.limit,
                        left,
                    )
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=max(0.001, left))
        self._pending[window] = self._pending.get(window, 0.0) + weight
        return Ticket(weight, window, self._clock())

    def observe(self, ticket: Ticket, used: int, window_s: float) -> None:
        """An answer reported the IP's ``used`` weight in its window."""
        ticket.observed = True
        self.max_used_seen = max(self.max_used_seen, used)
        record.exchange_weight_used(self.name, float(used))
        if not math.isclose(window_s, self.window_s):
            self._set(self.limit, window_s)
        window, _ = self._roll()
        if ticket.window == window:  # sent and answered in the same window: unambiguous
            self._seen = max(self._seen or 0.0, float(used))
        self._notify()

    def release(self, ticket: Ticket) -> None:
        left = self._pending.get(ticket.window, 0.0) - ticket.weight
        if left > 1e-9:
            self._pending[ticket.window] = left
        else:
            self._pending.pop(ticket.window, None)
        window, _ = self._roll()
        if not ticket.observed and ticket.window == window and self._seen is not None:
            self._seen += ticket.weight  # no header: assume the exchange counted it
        self._notify()

    def used_now(self) -> float | None:
        """The weight the exchange reported for the current window, plus ours since."""
        self._roll()
        return self._seen

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def as_json(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "window_s": self.window_s,
            "headroom": self.headroom,
            "max_used_seen": self.max_used_seen,
            "waits": self.waits,
            "held_windows": self.held_windows,
        }
