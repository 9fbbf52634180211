from __future__ import annotations

import pytest

from perpwatch.api.middleware.hit_fast_path import plain_hit


@pytest.mark.parametrize(
    ("body", "symbol"),
    [
        (b'{"symbol": "BTCUSDT"}', "BTCUSDT"),
        (b'{"symbol": "btc/usdt:usdt", "force_refresh": false}', "BTCUSDT"),
        (b'{"symbol": "BTCUSDT", "force_refresh": true}', None),  # forced: the full route
        (b'{"symbol": "BTCUSDT", "force_refresh": 0}', None),  # not a bool: its 422 there
        (b'{"symbol": "BTCUSDT", "extra": 1}', None),  # unknown field: its 422 there
        (b'{"symbol": 5}', None),
        (b'{"symbol": "BTC USDT"}', None),  # invalid symbol: its 400 there
        (b"{}", None),
        (b"[]", None),
        (b"{not json", None),
        (b"\xff\xfe\x00", None),
        (b"[" * 100_000 + b"]" * 100_000, None),
        (b"", None),
    ],
)
def test_only_plain_requests_take_the_fast_path(body: bytes, symbol: str | None) -> None:
    got = plain_hit(body)
    assert (None if got is None else got[0]) == symbol
    if got is not None:
        assert got[1] is None  # no timeframe named: the primary


@pytest.mark.parametrize(
    ("body", "asked"),
    [
        (b'{"symbol": "BTCUSDT", "timeframe": "1h"}', ("BTCUSDT", "1h")),
        (b'{"symbol": "BTCUSDT", "timeframe": null}', ("BTCUSDT", None)),
        (b'{"symbol": "BTCUSDT", "timeframe": 60}', None),  # not a string: its 422 there
        (b'{"symbol": "BTCUSDT", "timeframe": ["1h"]}', None),
    ],
)
def test_a_timeframe_is_passed_on(body: bytes, asked: tuple[str, str | None] | None) -> None:
    assert plain_hit(body) == asked
