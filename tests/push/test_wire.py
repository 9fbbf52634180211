"""WebSocket frames built once per event: read back by the websockets library's own parser."""

from __future__ import annotations

from collections.abc import Generator

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from perpwatch.push.events import Event, Item
from perpwatch.push.wire import text_frame


def parse(wire: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parser: Generator[None, None, Frame] = Frame.parse(
        reader.read_exact, mask=False, max_size=None, extensions=[]
    )
    with pytest.raises(StopIteration) as done:
        next(parser)
    return done.value.value  # type: ignore[no-any-return]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 300_000])
def test_every_length_encoding_parses(size: int) -> None:
    payload = (b"x" * size)[:size]
    frame = parse(text_frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


def test_non_ascii_text_is_utf8() -> None:
    text = '{"msg":"资金费率 ✓"}'
    frame = parse(text_frame(text.encode()))
    assert frame.data.decode() == text


def test_an_event_carries_its_frame_once() -> None:
    e = Event("signals", 7, "analysis", "BTCUSDT", "15m", 1_700_000_000_000, '{"a":1}')
    assert e.item.wire is not None
    assert parse(e.item.ws_frame()).data.decode() == e.frame
    control = Item('{"type":"heartbeat"}', "heartbeat", None, 0)
    assert parse(control.ws_frame()).data == b'{"type":"heartbeat"}'
