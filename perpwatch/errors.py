"""perpwatch's exception hierarchy.

Adapters convert library errors (ccxt, redis-py) into these at the edge, with
``raise ... from e``; the API maps them to HTTP statuses in one handler.
"""

from __future__ import annotations


class PerpwatchError(Exception):
    """Base of every error perpwatch raises on purpose."""


class ConfigError(PerpwatchError):
    """A setting is invalid."""


class InvalidInput(PerpwatchError):
    """A client sent something perpwatch cannot accept (HTTP 400)."""


class UnknownSymbol(PerpwatchError):
    """The symbol is not a watched/listed perpetual contract (HTTP 404)."""

    def __init__(self, symbol: str) -> None:
        super().__init__(f"unknown symbol: {symbol}")
        self.symbol = symbol


class DataNotAvailable(PerpwatchError):
    """The data asked for does not exist yet or cannot be computed now (HTTP 503)."""


class InsufficientData(DataNotAvailable):
    """Too few closed candles to compute the analysis honestly."""


# --- exchange side ----------------------------------------------------------------


class ExchangeError(DataNotAvailable):
    """The exchange did not give us the data."""


class TemporaryExchangeError(ExchangeError):
    """A failure worth retrying: network errors, timeouts, 5xx, maintenance."""


class RateLimited(TemporaryExchangeError):
    """The exchange said we are over its limits (HTTP 429 / 418)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentExchangeError(ExchangeError):
    """The exchange rejected the request; retrying the same thing will not help."""


# --- cache side -------------------------------------------------------------------


class CacheUnavailable(PerpwatchError):
    """The cache backend did not answer (used internally by the failover cache)."""


# --- alert delivery ---------------------------------------------------------------


class DeliveryError(PerpwatchError):
    """An alert did not reach its receiver. ``status``: the receiver's HTTP status (None:
    no answer)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TemporaryDeliveryError(DeliveryError):
    """Worth retrying later: no answer, a timeout, a 5xx."""


class DeliveryRateLimited(TemporaryDeliveryError):
    """The receiver answered 429; ``retry_after_s`` as it asked (None: it did not say)."""

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after_s: float | None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class PermanentDeliveryError(DeliveryError):
    """The receiver refused it (a 4xx other than 429), or the destination is not allowed:
    sending the same thing again will not help."""
