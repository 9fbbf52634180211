"""Symbol names: perpwatch says ``BTCUSDT`` everywhere (API, cache keys, logs).

Accepted inputs: ``BTCUSDT``, ``btcusdt``, ``BTC/USDT``, ``BTC/USDT:USDT``,
``BTC-USDT``, ``BTC_USDT``, ``BTC-USDT-SWAP``. Anything else is rejected before
it can reach a Redis key or a log line.
"""

from __future__ import annotations

import re

from perpwatch.errors import InvalidInput

MAX_SYMBOL_LENGTH = 40
_CLEAN = re.compile(r"^[A-Z0-9]{2,30}$")
_INPUT = re.compile(r"^[A-Za-z0-9/:_\-]{2,40}$")


def normalize_symbol(raw: object) -> str:
    """Return the canonical ``BASEQUOTE`` name or raise :class:`InvalidInput`."""
    if not isinstance(raw, str):
        raise InvalidInput("symbol must be a string")
    text = raw.strip()
    if not text:
        raise InvalidInput("symbol must not be empty")
    if len(text) > MAX_SYMBOL_LENGTH or not _INPUT.match(text):
        raise InvalidInput("symbol must be 2-40 characters of A-Z, 0-9 and the separators / : - _")
    text = text.upper()
    # ccxt unified swap symbol BTC/USDT:USDT: the settle currency is not part of the name
    if ":" in text:
        text = text.split(":", 1)[0]
    if text.endswith("-SWAP"):  # OKX instrument id BTC-USDT-SWAP
        text = text[: -len("-SWAP")]
    canonical = re.sub(r"[/\-_]", "", text)
    if not _CLEAN.match(canonical):
        raise InvalidInput(f"symbol {raw!r} is not a valid contract name")
    return canonical


def canonical_from_parts(base: str, quote: str) -> str:
    """Canonical name of a contract from its ccxt base and quote currencies."""
    return f"{base}{quote}".upper()
