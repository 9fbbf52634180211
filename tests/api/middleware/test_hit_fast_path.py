from __future__ import annotations

import pytest

from perpwatch.api.middleware.hit_fast_path import plain_hit_symbol


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
    assert plain_hit_symbol(body) == symbol
