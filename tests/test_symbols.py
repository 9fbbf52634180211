import pytest

from perpwatch.errors import InvalidInput
from perpwatch.symbols import normalize_symbol


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("BTCUSDT", "BTCUSDT"),
        ("btcusdt", "BTCUSDT"),
        (" ethusdt ", "ETHUSDT"),
        ("BTC/USDT", "BTCUSDT"),
        ("BTC/USDT:USDT", "BTCUSDT"),
        ("BTC-USDT-SWAP", "BTCUSDT"),
        ("1000PEPE_USDT", "1000PEPEUSDT"),
    ],
)
def test_accepted_spellings(raw: str, canonical: str) -> None:
    assert normalize_symbol(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "B",
        "BTC USDT",
        "BTC*",
        "hama:analysis:*",
        "A" * 41,
        "BTC\nUSDT",
        "../etc",
        "ÄBC",
        12,
        None,
    ],
)
def test_rejected(raw: object) -> None:
    with pytest.raises(InvalidInput):
        normalize_symbol(raw)
