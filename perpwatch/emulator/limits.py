"""Binance's per-IP request-weight limit, enforced: 429 with ``Retry-After``, then 418 bans.

As Binance documents for its REST APIs: weight is counted per IP in fixed windows (UTC
minutes); every answer carries ``X-MBX-USED-WEIGHT-1M``; a request that takes the window
over the limit gets HTTP 429 with ``Retry-After`` (seconds until the window resets); an IP
that keeps sending after a 429 instead of backing off gets HTTP 418, an IP ban whose
``Retry-After`` is the time until the ban ends, and bans grow for repeat offenders from
2 minutes to 3 days. Binance does not publish how many requests during a back-off earn a
ban; here it is ``ban_after``. Window length and ban durations are parameters, so tests
can use a 2-second "minute" and bans of seconds.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from perpwatch.emulator.weights import REQUEST_WEIGHT_LIMIT_1M, WeightCounter, weight_header

BAN_BASE_S = 120.0  # Binance: bans from 2 minutes ...
BAN_MAX_S = 3 * 86_400.0  # ... to 3 days
_HISTORY = 1000


@dataclass(frozen=True, slots=True)
class LimitConfig:
    """Per-IP weight limit of the Binance paths. ``enabled=False`` counts but never rejects
    (for benchmarks that measure something else)."""

    enabled: bool = True
    weight_limit_per_min: int = REQUEST_WEIGHT_LIMIT_1M  # per window; "min" as Binance says
    window_s: int = 60
    ban_after: int = 20  # requests sent during a 429 back-off before the IP is banned
    ban_base_s: float = BAN_BASE_S  # first ban; each further ban doubles, up to ban_max_s
    ban_max_s: float = BAN_MAX_S

    def __post_init__(self) -> None:
        if self.weight_limit_per_min < 1 or self.window_s < 1 or self.ban_after < 1:
            raise ValueError("weight_limit_per_min, window_s and ban_after must be >= 1")
        if not 0 < self.ban_base_s <= self.ban_max_s:
            raise ValueError("need 0 < ban_base_s <= ban_max_s")

    @property
    def header(self) -> str:
        return weight_header(self.window_s)

    def rate_limits(self) -> list[dict[str, Any]]:
        """``exchangeInfo.rateLimits``: the weight limit as configured, plus Binance's
        order limits (not enforced: the emulator has no order endpoints)."""
        minutes = self.window_s % 60 == 0
        weight = {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE" if minutes else "SECOND",
            "intervalNum": self.window_s // 60 if minutes else self.window_s,
            "limit": self.weight_limit_per_min,
        }
        return [
            weight,
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to answer: ``status`` 200 (serve it), 429 or 418; ``used`` for the header."""

    status: int
    used: int
    retry_after_s: int = 0
    banned_until_ms: int = 0

    def body(self, config: LimitConfig) -> dict[str, Any]:
        if self.status == 418:
            msg = (
                f"Way too much request weight used; IP banned until {self.banned_until_ms}. "
                "Please use the websocket for live updates to avoid bans."
            )
        else:
            unit = "MINUTE" if config.window_s == 60 else f"{config.window_s} SECOND"
            msg = (
                f"Too much request weight used; current limit is {config.weight_limit_per_min} "
                f"request weight per 1 {unit}. Please use the websocket for live updates to "
                "avoid polling the API."
            )
        return {"code": -1003, "msg": msg}


@dataclass(slots=True)
class _Ip:
    counter: WeightCounter
    backoff_until: float = 0.0  # end of the window a 429 was answered in
    violations: int = 0  # requests received during that back-off
    banned_until: float = 0.0
    bans: int = 0


@dataclass(slots=True)
class LimitStats:
    responses: Counter[int] = field(default_factory=Counter)  # 429 / 418 answered
    bans: int = 0
    sent_during_backoff: int = 0  # requests received before a 429's Retry-After ended
    sent_during_ban: int = 0  # requests received from a banned IP
    # (ip, window start epoch s, weight counted) of past windows, oldest first
    windows: deque[tuple[str, float, int]] = field(default_factory=lambda: deque(maxlen=_HISTORY))


class IpLimiter:
    """Weight per IP per window, 429 over the limit, 418 bans for not backing off."""

    def __init__(self, config: LimitConfig | None = None) -> None:
        self.config = config or LimitConfig()
        self.stats = LimitStats()
        self._ips: dict[str, _Ip] = {}

    def configure(self, config: LimitConfig) -> None:
        """New limits: current windows restart; bans in force stay."""
        self.config = config
        for st in self._ips.values():
            st.counter = WeightCounter(config.weight_limit_per_min, window_s=config.window_s)
            st.backoff_until, st.violations = 0.0, 0

    def reset(self) -> None:
        self._ips.clear()
        self.stats = LimitStats()

    def _ip(self, ip: str, now_s: float) -> _Ip:
        st = self._ips.get(ip)
        if st is None:
            counter = WeightCounter(self.config.weight_limit_per_min, window_s=self.config.window_s)
            st = self._ips[ip] = _Ip(counter)
        finished = st.counter.close_finished(now_s)
        if finished is not None:  # keep each window's total for the stats
            self.stats.windows.append((ip, *finished))
        return st

    def used(self, ip: str, now_s: float) -> int:
        return self._ip(ip, now_s).counter.used(now_s)

    def add(self, ip: str, weight: int, now_s: float) -> int:
        """Weight used by other clients on ``ip`` (e.g. other processes): counted, never
        rejected. Returns the window's total."""
        return self._ip(ip, now_s).counter.record(weight, now_s)

    def check(self, ip: str, weight: int, now_s: float) -> Verdict:
        """Count one request of ``weight`` from ``ip`` and say how to answer it."""
        cfg, st = self.config, self._ip(ip, now_s)
        if now_s < st.banned_until:
            self.stats.sent_during_ban += 1
            return self._reject(418, st.counter.used(now_s), st.banned_until - now_s, st)
        used = st.counter.record(weight, now_s)
        if not cfg.enabled:
            return Verdict(200, used)
        if now_s < st.backoff_until:  # told to back off, sent anyway
            st.violations += 1
            self.stats.sent_during_backoff += 1
            if st.violations >= cfg.ban_after:
                duration = min(cfg.ban_max_s, cfg.ban_base_s * 2.0**st.bans)
                st.bans += 1
                self.stats.bans += 1
                st.banned_until, st.backoff_until, st.violations = now_s + duration, 0.0, 0
                return self._reject(418, used, duration, st)
        if used > cfg.weight_limit_per_min:
            end = st.counter.window_end(now_s)
            st.backoff_until = max(st.backoff_until, end)
            return self._reject(429, used, end - now_s, st)
        return Verdict(200, used)

    def _reject(self, status: int, used: int, wait_s: float, st: _Ip) -> Verdict:
        self.stats.responses[status] += 1
        return Verdict(status, used, max(1, math.ceil(wait_s)), int(st.banned_until * 1000))

    def as_json(self, now_s: float) -> dict[str, Any]:
        windows = [
            {"ip": ip, "start": start, "used": used} for ip, start, used in self.stats.windows
        ]
        for ip, st in self._ips.items():
            if st.counter.used(now_s):
                start = st.counter.window_of(now_s) * st.counter.window_s
                windows.append(
                    {
                        "ip": ip,
                        "start": float(start),
                        "used": st.counter.used(now_s),
                        "current": True,
                    }
                )
        return {
            "config": self.config.as_json(),
            "responses_429": self.stats.responses[429],
            "responses_418": self.stats.responses[418],
            "bans": self.stats.bans,
            "sent_during_backoff": self.stats.sent_during_backoff,
            "sent_during_ban": self.stats.sent_during_ban,
            "banned_ips": [ip for ip, st in self._ips.items() if now_s < st.banned_until],
            "windows": windows,
        }
