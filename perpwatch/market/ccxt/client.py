"""perpwatch's subclass of a ccxt async exchange client: the HTTP edge.

Three hooks on every HTTP request ccxt makes:

- ``throttle`` (after ccxt's own limiter) remembers the request's weight, as ccxt
  computed it from its endpoint table (Binance's weights: klines ``limit=499`` costs 2);
- ``fetch`` waits for the exchange's gate (429/418 pause) and the weight budget, and
  refuses an answer ccxt could not parse as JSON: ccxt hands such a body back as a plain
  string (a truncated JSON document, an HTML page with status 200), and nothing made of
  it may reach the analysis;
- ``on_rest_response`` reads ``X-MBX-USED-WEIGHT-*`` and ``exchangeInfo.rateLimits``
  into the budget and turns 429/418 into :class:`~perpwatch.errors.RateLimited` with the
  ``Retry-After``.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import ccxt.async_support as ccxt_async

from perpwatch.errors import PermanentExchangeError, RateLimited, TemporaryExchangeError
from perpwatch.market.ccxt.retry import ExchangeGate
from perpwatch.market.ccxt.weight_budget import Ticket, WeightBudget, used_weight

_WEIGHT: ContextVar[float] = ContextVar("perpwatch_request_weight", default=1.0)
_TICKET: ContextVar[Ticket | None] = ContextVar("perpwatch_request_ticket", default=None)


def parse_retry_after(headers: dict[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def client_class(exchange_id: str) -> type[Any]:
    """``ccxt.async_support.<exchange_id>`` with perpwatch's hooks. Instances read
    ``perpwatch_gate`` and ``perpwatch_budget`` (None: no weight budget)."""
    base = getattr(ccxt_async, exchange_id, None)
    if base is None:
        raise PermanentExchangeError(f"ccxt has no exchange {exchange_id!r}")

    async def throttle(self: Any, cost: Any = None) -> Any:
        _WEIGHT.set(1.0 if cost is None else float(cost))
        return await base.throttle(self, cost)

    async def fetch(
        self: Any, url: str, method: str = "GET", headers: Any = None, body: Any = None
    ) -> Any:
        gate: ExchangeGate | None = self.perpwatch_gate
        budget: WeightBudget | None = self.perpwatch_budget
        ticket: Ticket | None = None
        while True:
            if gate is not None:
                await gate.wait_open()
            if budget is None:
                break
            ticket = await budget.acquire(_WEIGHT.get())
            if gate is None or gate.paused_for_s <= 0:
                break
            budget.release(ticket)  # paused while we waited for the budget: wait again
        token = _TICKET.set(ticket)
        try:
            result = await base.fetch(self, url, method, headers, body)
        finally:
            _TICKET.reset(token)
            if budget is not None and ticket is not None:
                budget.release(ticket)
        if isinstance(result, str | bytes | bytearray):
            text = result if isinstance(result, str) else bytes(result).decode("latin-1")
            raise TemporaryExchangeError(
                f"{self.id} {method} {url.split('?')[0]}: malformed answer, not JSON "
                f"({len(text)} bytes: {text[:60]!r})"
            )
        return result

    def on_rest_response(
        self: Any,
        code: int,
        reason: str,
        url: str,
        method: str,
        headers: dict[str, str],
        body: str,
        request_headers: Any,
        request_body: Any,
    ) -> str:
        budget: WeightBudget | None = self.perpwatch_budget
        ticket = _TICKET.get()
        if budget is not None and ticket is not None:
            used = used_weight(headers)
            if used is not None:
                budget.observe(ticket, *used)
            if code == 200 and url.split("?")[0].endswith("/exchangeInfo"):
                budget.learn_exchange_info(body, ticket)
        if code in (429, 418):
            retry_after = parse_retry_after(headers)
            what = "IP banned" if code == 418 else "over the request weight limit"
            raise RateLimited(
                f"{exchange_id} answered HTTP {code} ({what}) for {method} {url.split('?')[0]}",
                retry_after_s=retry_after,
            )
        result: str = base.on_rest_response(
            self, code, reason, url, method, headers, body, request_headers, request_body
        )
        return result

    namespace = {
        "throttle": throttle,
        "fetch": fetch,
        "on_rest_response": on_rest_response,
        "perpwatch_gate": None,
        "perpwatch_budget": None,
    }
    return type(f"Perpwatch_{exchange_id}", (base,), namespace)
