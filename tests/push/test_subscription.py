"""What a push client asks for, parsed: the happy paths and every hostile one.

Each refusal is a :class:`BadMessage` whose text goes back to the client as it is, so the
tests check that it names what was wrong (and stays short when the input is huge).
"""

from __future__ import annotations

import json

import pytest

from perpwatch.push.events import CHANNELS, Channel
from perpwatch.push.subscription import (
    MAX_MESSAGE_BYTES,
    MAX_SYMBOLS,
    BadMessage,
    Ping,
    Subscribe,
    Unsubscribe,
    parse_channels,
    parse_last_event_id,
    parse_message,
    parse_since,
    parse_symbols,
    parse_timeframes,
)

TIMEFRAMES = ("15m", "1h")


def parse(msg: object) -> object:
    return parse_message(json.dumps(msg), timeframes=TIMEFRAMES)


def refusal(msg: str | bytes) -> str:
    with pytest.raises(BadMessage) as info:
        parse_message(msg, timeframes=TIMEFRAMES)
    return str(info.value)


# --- parse_message: what is accepted ---------------------------------------------------


def test_ping() -> None:
    assert parse({"type": "ping"}) == Ping()
    assert parse_message(b'{"type":"ping"}', timeframes=TIMEFRAMES) == Ping()


def test_full_subscribe() -> None:
    got = parse(
        {
            "type": "subscribe",
            "channels": ["signals", "funding"],
            "symbols": ["btcusdt", "ETH/USDT:USDT", "SOL-USDT-SWAP"],
            "timeframes": ["15m"],
            "since": 41,
        }
    )
    assert got == Subscribe(
        channels=("signals", "funding"),
        symbols=frozenset({"BTCUSDT", "ETHUSDT", "SOLUSDT"}),
        timeframes=frozenset({"15m"}),
        since={"signals": 41, "funding": 41},
    )


def test_minimal_subscribe_means_everything_from_a_snapshot() -> None:
    got = parse({"type": "subscribe", "channels": ["arbitrage"]})
    assert got == Subscribe(channels=("arbitrage",), symbols=None, timeframes=None, since={})


def test_subscribe_with_since_per_channel_and_explicit_nulls() -> None:
    got = parse(
        {
            "type": "subscribe",
            "channels": ["signals", "funding"],
            "symbols": None,
            "timeframes": None,
            "since": {"funding": 7},
        }
    )
    assert isinstance(got, Subscribe)
    assert got.symbols is None and got.timeframes is None
    assert dict(got.since) == {"funding": 7}  # signals: from a snapshot


def test_unsubscribe_without_channels_means_all() -> None:
    assert parse({"type": "unsubscribe"}) == Unsubscribe(CHANNELS)
    assert parse({"type": "unsubscribe", "channels": None}) == Unsubscribe(CHANNELS)
    assert parse({"type": "unsubscribe", "channels": ["funding"]}) == Unsubscribe(("funding",))


def test_a_message_of_exactly_the_limit_is_read() -> None:
    text = '{"type":"ping"}'
    raw = text + " " * (MAX_MESSAGE_BYTES - len(text))
    assert len(raw) == MAX_MESSAGE_BYTES
    assert parse_message(raw, timeframes=TIMEFRAMES) == Ping()
    assert parse_message(raw.encode(), timeframes=TIMEFRAMES) == Ping()


# --- parse_message: what is refused ----------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "{",
        "{'type': 'ping'}",
        '{"type": "ping",}',
        "ping",
        b"\xff\xfe\x00garbage",  # not UTF-8
        "[" * 60_000,  # nests deeper than the decoder recurses, within the size limit
    ],
)
def test_not_json(raw: str | bytes) -> None:
    assert refusal(raw) == "not valid JSON"


@pytest.mark.parametrize("raw", ["[]", '["subscribe"]', '"ping"', "1", "null", "true"])
def test_not_an_object(raw: str) -> None:
    assert refusal(raw) == "a message is a JSON object with a 'type'"


@pytest.mark.parametrize(
    "msg",
    [{}, {"type": "Subscribe"}, {"type": "publish"}, {"type": None}, {"type": ["ping"]}],
)
def test_unknown_or_missing_type(msg: dict[str, object]) -> None:
    assert refusal(json.dumps(msg)) == "'type' must be subscribe, unsubscribe or ping"


def test_too_large_str_and_bytes() -> None:
    raw = '{"type":"ping","pad":"' + "x" * MAX_MESSAGE_BYTES + '"}'
    for msg in (raw, raw.encode()):
        text = refusal(msg)
        assert "too large" in text and str(MAX_MESSAGE_BYTES) in text


def test_too_large_is_checked_before_parsing() -> None:
    # far too deep to parse, and too large: the size is what is reported
    assert "too large" in refusal("[" * (MAX_MESSAGE_BYTES + 1))


def test_too_large_counts_bytes_of_a_text_message() -> None:
    """The limit is in bytes (MAX_MESSAGE_BYTES, "over 65536 bytes"); a WebSocket text
    frame arrives as ``str``, and 40,000 two-byte characters are 80,000 bytes."""
    raw = '{"type":"ping","pad":"' + "é" * 40_000 + '"}'
    assert len(raw.encode()) > MAX_MESSAGE_BYTES > len(raw)
    assert "too large" in refusal(raw)


def test_unknown_fields_are_named() -> None:
    text = refusal(json.dumps({"type": "subscribe", "channels": ["signals"], "zz": 1, "aa": 2}))
    assert text == "unknown field(s) for subscribe: aa, zz"
    text = refusal(json.dumps({"type": "unsubscribe", "symbols": ["BTCUSDT"]}))
    assert text == "unknown field(s) for unsubscribe: symbols"


def test_subscribe_needs_channels() -> None:
    text = refusal(json.dumps({"type": "subscribe", "symbols": ["BTCUSDT"]}))
    assert "'channels'" in text
    assert all(c in text for c in CHANNELS)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("channels", 5, "'channels' must be a list of strings"),
        ("channels", {"signals": True}, "'channels' must be a list of strings"),
        ("channels", ["signals", 1], "'channels' must be a list of strings"),
        ("channels", None, "'channels' must be a list of strings"),
        ("symbols", {"BTCUSDT": 1}, "'symbols' must be a list of strings"),
        ("symbols", [["BTCUSDT"]], "'symbols' must be a list of strings"),
        ("symbols", 42, "'symbols' must be a list of strings"),
        ("timeframes", 15, "'timeframes' must be a list of strings"),
        ("timeframes", [15], "'timeframes' must be a list of strings"),
        ("since", "41", "'since' must be a sequence number (an integer >= 0)"),
        ("since", 4.0, "'since' must be a sequence number (an integer >= 0)"),
        ("since", True, "'since' must be a sequence number (an integer >= 0)"),
        ("since", -1, "'since' must be a sequence number (an integer >= 0)"),
        ("since", [1], "'since' must be a sequence number (an integer >= 0)"),
    ],
)
def test_wrong_types_in_subscribe(field: str, value: object, expected: str) -> None:
    msg: dict[str, object] = {"type": "subscribe", "channels": ["signals"], field: value}
    assert refusal(json.dumps(msg)) == expected


def test_non_finite_since_is_refused() -> None:
    # Python's decoder takes NaN / Infinity / 1e400 as floats: none is a sequence number
    for token in ("NaN", "Infinity", "-Infinity", "1e400"):
        raw = '{"type":"subscribe","channels":["signals"],"since":' + token + "}"
        assert "'since' must be a sequence number" in refusal(raw)


def test_a_bad_field_refuses_the_whole_message() -> None:
    raw = json.dumps({"type": "subscribe", "channels": ["signals"], "timeframes": ["4h"]})
    assert refusal(raw).startswith("timeframe(s) not configured: 4h")


# --- parse_channels ---------------------------------------------------------------------


def test_channels_list_string_and_duplicates() -> None:
    assert parse_channels(["signals"]) == ("signals",)
    assert parse_channels(["funding", "signals", "funding"]) == ("funding", "signals")
    assert parse_channels("signals, arbitrage ,,") == ("signals", "arbitrage")  # SSE query


@pytest.mark.parametrize("raw", [[], "", " , ,"])
def test_channels_empty(raw: object) -> None:
    with pytest.raises(BadMessage, match=r"^'channels' is empty; any of signals, funding") as e:
        parse_channels(raw)
    assert "arbitrage" in str(e.value)


def test_unknown_channels_are_named_with_the_choices() -> None:
    with pytest.raises(BadMessage) as e:
        parse_channels(["signals", "trades", "Signals"])
    assert str(e.value) == "unknown channel(s): trades, Signals; any of signals, funding, arbitrage"


def test_many_unknown_channels_list_ten() -> None:
    with pytest.raises(BadMessage) as e:
        parse_channels([f"c{i}" for i in range(50)])
    text = str(e.value)
    assert text.startswith("unknown channel(s): c0, c1, ")
    assert "c9;" in text and "c10" not in text


# --- parse_symbols ----------------------------------------------------------------------


def test_symbols_are_normalized() -> None:
    assert parse_symbols(None) is None
    assert parse_symbols([]) == frozenset()
    assert parse_symbols(["btcusdt", "BTC/USDT", "BTC_USDT", "ETH-USDT"]) == frozenset(
        {"BTCUSDT", "ETHUSDT"}
    )
    assert parse_symbols("BTCUSDT,ethusdt") == frozenset({"BTCUSDT", "ETHUSDT"})


@pytest.mark.parametrize("bad", ["B", "BTC USDT", "../etc/passwd", "BTC$USDT", "x" * 41, " "])
def test_invalid_symbols_are_named(bad: str) -> None:
    with pytest.raises(BadMessage) as e:
        parse_symbols(["BTCUSDT", bad])
    assert str(e.value) == f"invalid symbol(s): {bad[:40]}"


def test_invalid_symbols_are_cut_short() -> None:
    many = [f"bad symbol {i} " + "z" * 100 for i in range(30)]
    with pytest.raises(BadMessage) as e:
        parse_symbols(many)
    text = str(e.value)
    assert text.startswith("invalid symbol(s): bad symbol 0 ")
    assert "bad symbol 9 " in text and "bad symbol 10 " not in text
    assert len(text) < 500


def test_too_many_symbols() -> None:
    assert len(parse_symbols([f"S{i:05d}USDT" for i in range(MAX_SYMBOLS)]) or ()) == MAX_SYMBOLS
    with pytest.raises(BadMessage) as e:
        parse_symbols([f"S{i:05d}USDT" for i in range(MAX_SYMBOLS + 1)])
    assert str(e.value) == f"at most {MAX_SYMBOLS} symbols"


# --- parse_timeframes -------------------------------------------------------------------


def test_timeframes() -> None:
    assert parse_timeframes(None, TIMEFRAMES) is None
    assert parse_timeframes(["1h", "15m", "1h"], TIMEFRAMES) == frozenset({"1h", "15m"})
    assert parse_timeframes("15m", TIMEFRAMES) == frozenset({"15m"})
    assert parse_timeframes([], TIMEFRAMES) == frozenset()


def test_unconfigured_timeframes_are_named_with_the_configured_ones() -> None:
    with pytest.raises(BadMessage) as e:
        parse_timeframes(["15m", "4h", "1H"], TIMEFRAMES)
    assert str(e.value) == "timeframe(s) not configured: 4h, 1H; configured: 15m, 1h"


def test_unconfigured_timeframes_are_cut_short() -> None:
    with pytest.raises(BadMessage) as e:
        parse_timeframes(["y" * 10_000, *(f"{i}d" for i in range(20))], TIMEFRAMES)
    text = str(e.value)
    assert text.startswith("timeframe(s) not configured: yyyyyyyyyy, 0d")
    assert "8d;" in text and "9d" not in text  # ten named, each cut to ten characters
    assert len(text) < 200


# --- parse_since ------------------------------------------------------------------------


def test_since() -> None:
    both: tuple[Channel, ...] = ("signals", "funding")
    assert parse_since(None, both) == {}
    assert parse_since(0, both) == {"signals": 0, "funding": 0}
    assert parse_since(41, both) == {"signals": 41, "funding": 41}
    assert parse_since({"signals": 3}, both) == {"signals": 3}
    assert parse_since({}, both) == {}
    assert parse_since(2**62 - 1, ("signals",)) == {"signals": 2**62 - 1}


@pytest.mark.parametrize("bad", [True, False, -1, 2**62, 1.5, "7", [3]])
def test_since_must_be_a_sequence_number(bad: object) -> None:
    for raw in (bad, {"signals": bad}):
        with pytest.raises(BadMessage) as e:
            parse_since(raw, ("signals",))
        assert str(e.value) == "'since' must be a sequence number (an integer >= 0)"
    with pytest.raises(BadMessage, match="'since' must be a sequence number"):
        parse_since({"signals": None}, ("signals",))


def test_since_of_a_channel_not_subscribed() -> None:
    with pytest.raises(BadMessage) as e:
        parse_since({"signals": 1, "funding": 2}, ("signals",))
    assert str(e.value) == "'since' names 'funding', not a subscribed channel"
    with pytest.raises(BadMessage) as e:
        parse_since({"x" * 1000: 1}, ("signals",))
    assert str(e.value) == f"'since' names {'x' * 20!r}, not a subscribed channel"


# --- parse_last_event_id ----------------------------------------------------------------

LAST_ID_HELP = "Last-Event-ID must look like signals:41[,funding:7]"


def test_last_event_id() -> None:
    assert parse_last_event_id("signals:41", ("signals",)) == {"signals": 41}
    assert parse_last_event_id("signals:0", ("signals",)) == {"signals": 0}
    assert parse_last_event_id(" signals:41 , funding:7 ", ("signals", "funding")) == {
        "signals": 41,
        "funding": 7,
    }
    # one channel of several: the others start from a snapshot
    assert parse_last_event_id("funding:7", ("signals", "funding")) == {"funding": 7}
    assert parse_last_event_id("signals:" + "9" * 18, ("signals",)) == {"signals": 10**18 - 1}


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "41",
        "signals",
        "signals:",
        ":41",
        "signals:-1",
        "signals:+1",
        "signals:1.5",
        "signals:0x10",
        "signals:1e3",
        "signals: 41",
        "signals:41,",
        ",signals:41",
        "signals:41;funding:7",
        "signals=41",
        "SIGNALS:41",
        "funding:7",  # a channel this stream does not carry
        "signals:" + "9" * 19,
        "signals:41:42",
        "signals:4\x001",
    ],
)
def test_odd_last_event_ids(raw: str) -> None:
    with pytest.raises(BadMessage) as e:
        parse_last_event_id(raw, ("signals",))
    assert str(e.value) == LAST_ID_HELP


@pytest.mark.parametrize("raw", ["signals:\u00b2", "signals:4\u00b9", "signals:\u2460"])
def test_last_event_ids_with_digits_int_cannot_read(raw: str) -> None:
    """``str.isdigit`` is true of superscripts and circled digits, which ``int()`` refuses:
    such an id must be a BadMessage (a 400), not a bare ValueError (a 500). ``²`` and
    ``¹`` are Latin-1, so they arrive as-is in an HTTP header."""
    with pytest.raises(BadMessage) as e:
        parse_last_event_id(raw, ("signals",))
    assert str(e.value) == LAST_ID_HELP
