"""``perpwatch watch``: the folding of push messages (pure), and the command against the
real app under uvicorn, run as a user would (a subprocess), including reconnect-and-resume
through a real TCP proxy that drops the connection, a server that starts late, a wrong key
and an unknown symbol.

Analyses are made on demand (``force_refresh``) so that each test knows which events come.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
from rich.console import Console

from perpwatch.api.app import create_app
from perpwatch.cli_watch import parse_channels, render
from perpwatch.errors import ConfigError
from perpwatch.push.events import EventType
from perpwatch.push.watch import (
    Backoff,
    Received,
    WatchState,
    subscribe_message,
    watch,
    ws_url,
)
from tests.api.conftest import API, sim_settings
from tests.support.http_server import serve_app
from tests.support.redis_server import free_port
from tests.support.tcp_proxy import DelayProxy

Msg = dict[str, Any]
ROOT = Path(__file__).resolve().parents[1]
KEY = "watch-test-key-0123456789"
ENV = {k: v for k, v in os.environ.items() if k not in ("PERPWATCH_API_KEY", "API_KEY")}


# --- WatchState, pure ----------------------------------------------------------------------


def doc(symbol: str, rec: str = "HOLD", *, ts_ms: int = 1_000_000, conf: float = 0.5) -> Msg:
    """An analysis document with the fields a row shows (as analyze-symbol serves them)."""
    return {
        "symbol": symbol,
        "timeframe": "15m",
        "hama_analysis": {
            "recommendation": rec,
            "confidence": conf,
            "trend": "uptrend",
            "signals": {"deviation_pct": 0.25, "bars_since_cross": 7, "realtime_price": 101.5},
            "technical_indicators": {"rsi": 61.2},
        },
        "timestamp_ms": ts_ms,
    }


def event(type_: str, seq: int, data: Msg, channel: str = "signals") -> Msg:
    return {"type": type_, "channel": channel, "seq": seq, "ts": 0, "data": data}


def change(symbol: str, from_: str, to: str) -> Msg:
    return {"symbol": symbol, "timeframe": "15m", "from": from_, "to": to, "cross_from": -1,
            "cross_to": 1, "changed": ["recommendation", "cross"], "confidence": 0.8,
            "candle_close_time": "2026-12-01T10:15:00.000Z",
            "computed_at": "2026-12-01T10:15:02.000Z"}  # fmt: skip


def test_state_folds_a_snapshot_then_events_and_skips_repeats() -> None:
    now = [1_000.0]
    state = WatchState(clock=lambda: now[0])
    assert state.apply({"type": "subscribed", "channels": ["signals"]}) == "control"
    snap = {"type": "snapshot", "channel": "signals", "seq": 5, "ts": 0,
            "data": [doc("BTCUSDT"), doc("ETHUSDT", "SELL")]}  # fmt: skip
    assert state.apply(snap) == "state"
    assert sorted(state.rows) == [("BTCUSDT", "15m"), ("ETHUSDT", "15m")]
    assert state.positions == {"signals": 5}
    now[0] = 1_010.0
    assert state.apply(event("analysis", 6, doc("BTCUSDT", "BUY", ts_ms=1_002_000))) == "state"
    row = state.rows[("BTCUSDT", "15m")]
    assert (row.recommendation, row.rsi, row.bars_since_cross, row.price) == ("BUY", 61.2, 7, 101.5)
    assert row.age_s(now[0]) == pytest.approx(8.0) and row.received_at == 1_010.0
    # the same event again (or an older one) changes nothing
    assert state.apply(event("analysis", 6, doc("BTCUSDT", "SELL"))) == "duplicate"
    assert state.apply(event("analysis", 4, doc("BTCUSDT", "SELL"))) == "duplicate"
    assert state.rows[("BTCUSDT", "15m")].recommendation == "BUY"
    assert state.apply(event("signal_change", 7, change("BTCUSDT", "HOLD", "BUY"))) == "state"
    (c,) = state.changes
    assert (c.symbol, c.from_, c.to, c.cross_to, c.seq) == ("BTCUSDT", "HOLD", "BUY", 1, 7)
    assert state.changed_at == {("BTCUSDT", "15m"): 1_010.0}
    assert state.positions == {"signals": 7} and state.duplicates == 2 and state.events == 2
    assert state.since(["signals", "funding"]) == {"signals": 7}
    assert state.apply({"type": "heartbeat", "ts": 1}) == "control"
    assert state.apply(event("analysis", 8, {"symbol": "XRPUSDT"})) == "state"  # no row in it
    assert ("XRPUSDT", "15m") not in state.rows and state.positions["signals"] == 8


def test_reset_drops_the_channel_and_the_next_snapshot_may_start_lower() -> None:
    state = WatchState()
    state.apply({"type": "snapshot", "channel": "signals", "seq": 40, "data": [doc("BTCUSDT")]})
    table = {"exchange": "binance", "fetched_at_ms": 1, "rows": {"BTCUSDT": {"apr": 10.0}}}
    state.apply({"type": "snapshot", "channel": "funding", "seq": 3, "data": [table]})
    assert state.since(["signals", "funding"]) == {"signals": 40, "funding": 3}
    assert state.apply({"type": "reset", "channels": ["signals"]}) == "state"
    assert state.rows == {} and state.since(["signals", "funding"]) == {"funding": 3}
    assert list(state.funding) == ["binance"]  # other channels stay
    # after a Redis that came back empty, the stream starts again at a lower number
    state.apply({"type": "snapshot", "channel": "signals", "seq": 2, "data": [doc("ETHUSDT")]})
    assert list(state.rows) == [("ETHUSDT", "15m")] and state.positions["signals"] == 2
    assert state.apply(event("analysis", 3, doc("BTCUSDT"))) == "state"


def test_funding_and_arbitrage_events_are_cut_to_the_symbols() -> None:
    state = WatchState(symbols=frozenset({"BTCUSDT"}))
    rows = {"BTCUSDT": {"apr": 5.0}, "ETHUSDT": {"apr": 50.0}}
    state.apply(event("funding", 1, {"exchange": "bybit", "fetched_at_ms": 9, "rows": rows},
                      channel="funding"))  # fmt: skip
    assert state.funding["bybit"]["rows"] == {"BTCUSDT": {"apr": 5.0}}
    view = {"count": 2, "opportunities": [{"symbol": "ETHUSDT"}, {"symbol": "BTCUSDT"}]}
    state.apply(event("arbitrage", 1, view, channel="arbitrage"))
    assert state.arbitrage == {"count": 1, "opportunities": [{"symbol": "BTCUSDT"}]}
    assert state.positions == {"funding": 1, "arbitrage": 1}


def test_urls_subscribe_messages_channels_and_backoff() -> None:
    assert ws_url("http://127.0.0.1:5000") == "ws://127.0.0.1:5000/ws"
    assert ws_url("https://pw.example/base/", "a b&c") == "wss://pw.example/base/ws?token=a+b%26c"
    assert ws_url("ws://h:1/ws") == "ws://h:1/ws"
    for bad in ("127.0.0.1:5000", "ftp://h", "http://"):
        with pytest.raises(ConfigError):
            ws_url(bad)
    assert subscribe_message(["signals"]) == {"type": "subscribe", "channels": ["signals"]}
    assert subscribe_message(
        ["signals", "funding"], symbols={"ETHUSDT", "BTCUSDT"}, timeframes={"15m"},
        since={"signals": 41},
    ) == {"type": "subscribe", "channels": ["signals", "funding"],
          "symbols": ["BTCUSDT", "ETHUSDT"], "timeframes": ["15m"],
          "since": {"signals": 41}}  # fmt: skip
    assert parse_channels("funding, signals,funding") == ("funding", "signals")
    with pytest.raises(ValueError, match="ohlcv"):
        parse_channels("signals,ohlcv")
    b = Backoff()
    assert [b.next() for _ in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    b.reset()
    assert b.next() == 0.5


def test_render_colours_recommendations_and_marks_recent_changes() -> None:
    state = WatchState(clock=lambda: 1_000.0)
    state.apply({"type": "snapshot", "channel": "signals", "seq": 1,
                 "data": [doc("BTCUSDT", "BUY", ts_ms=988_000, conf=0.72),
                          doc("ETHUSDT", "SELL"), doc("SOLUSDT", "HOLD")]})  # fmt: skip
    state.apply(event("signal_change", 2, change("BTCUSDT", "HOLD", "BUY")))
    console = Console(file=io.StringIO(), width=120, color_system="standard", record=True)
    console.print(render(state, now=1_005.0, status="live"))
    plain = console.export_text(styles=False, clear=False)
    coloured = console.export_text(styles=True)
    lines = {line.split()[1] if line.startswith("◆") else line.split()[0]: line
             for line in plain.splitlines() if "USDT" in line and "→" not in line}  # fmt: skip
    assert "◆" in lines["BTCUSDT"] and "◆" not in lines["ETHUSDT"]
    assert "72%" in lines["BTCUSDT"] and "17s" in lines["BTCUSDT"]  # age by timestamp_ms
    assert "+0.250" in lines["BTCUSDT"] and "61.2" in lines["BTCUSDT"]
    assert "\x1b[32mBUY" in coloured and "\x1b[31mSELL" in coloured and "\x1b[33mHOLD" in coloured
    assert "last signal changes" in plain and "HOLD → BUY" in plain


# --- the command against the real app -----------------------------------------------------


class Watcher:
    """``perpwatch watch ...`` as a subprocess, its output read as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "perpwatch", "watch", *args],
            cwd=ROOT,
            env=env or ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.lines: list[str] = []
        self.err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._pumps = [
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
            for stream, sink in (
                (self.proc.stdout, self.out.put),
                (self.proc.stderr, self.err.append),
            )
        ]
        for t in self._pumps:
            t.start()

    @staticmethod
    def _pump(stream: io.TextIOBase, sink: Callable[[str], None]) -> None:
        for line in stream:
            sink(line.rstrip("\n"))

    def line(self, timeout_s: float = 10.0) -> str:
        try:
            line = self.out.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no output in {timeout_s}s; stderr: {self.err}") from None
        self.lines.append(line)
        return line

    def until(self, pred: Callable[[Msg], bool], timeout_s: float = 10.0) -> tuple[Msg, list[Msg]]:
        """The first JSON line that satisfies ``pred``, and those before it."""
        seen: list[Msg] = []
        deadline = time.monotonic() + timeout_s
        while True:
            msg: Msg = json.loads(self.line(max(0.01, deadline - time.monotonic())))
            if pred(msg):
                return msg, seen
            seen.append(msg)

    def wait_stderr(self, pred: Callable[[list[str]], bool], timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not pred(self.err):
            assert time.monotonic() < deadline, f"stderr so far: {self.err}"
            time.sleep(0.02)

    def interrupt(self) -> int:
        """Ctrl-C; the exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def wait(self, timeout_s: float = 20.0) -> int:
        code = self.proc.wait(timeout=timeout_s)
        for t in self._pumps:  # they end at the end of the output
            t.join(timeout=5)
        while not self.out.empty():
            self.lines.append(self.out.get())
        return code

    def __enter__(self) -> Watcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def refresh(url: str, symbol: str) -> Msg:
    r = httpx.post(
        url + f"{API}/analyze-symbol",
        json={"symbol": symbol, "force_refresh": True},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    data: Msg = r.json()["data"]
    return data


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """One app in memory-only mode, with an API key (reads stay open without it)."""
    app = create_app(sim_settings(REDIS_ENABLED=False, API_KEY=KEY))
    with serve_app(app) as url:
        yield url


def test_json_lines_carry_the_subscribed_symbols_only(server: str) -> None:
    refresh(server, "BTCUSDT")
    with Watcher("--json", "btc-usdt", "--url", server) as w:
        sub, _ = w.until(lambda m: True)
        assert sub == {"type": "subscribed", "channels": ["signals"], "symbols": ["BTCUSDT"],
                       "timeframes": None, "since": None}  # fmt: skip
        snap, _ = w.until(lambda m: True)
        assert snap["type"] == "snapshot" and [d["symbol"] for d in snap["data"]] == ["BTCUSDT"]
        refresh(server, "ETHUSDT")
        fresh = refresh(server, "BTCUSDT")
        got, before = w.until(lambda m: m["type"] == "analysis")
        assert got["data"]["symbol"] == "BTCUSDT" and got["seq"] > snap["seq"]
        assert got["data"]["timestamp_ms"] == fresh["timestamp_ms"]
        assert all(m["type"] == "heartbeat" for m in before), before  # no ETHUSDT event
        assert w.interrupt() == 0  # Ctrl-C is a clean exit
    # one line per message, exactly as the server sent it (compact JSON)
    assert all(json.dumps(json.loads(x), separators=(",", ":")) == x for x in w.lines[:2])
    assert not any("ETHUSDT" in line for line in w.lines)
    assert w.err == [], w.err


def test_table_mode_shows_the_symbols_row(server: str) -> None:
    doc = refresh(server, "BTCUSDT")
    refresh(server, "ETHUSDT")
    with Watcher("BTCUSDT", "--url", server, "--exit-after", "1") as w:
        assert w.wait() == 0, w.err
    text = "\n".join(w.lines)
    assert "perpwatch signals" in text and "ETHUSDT" not in text
    (row,) = [line for line in w.lines if "BTCUSDT" in line and "15m" in line]
    h = doc["hama_analysis"]
    assert h["recommendation"] in row and f"{h['confidence'] * 100:.0f}%" in row
    assert h["trend"] in row and f"{h['signals']['deviation_pct']:+.3f}" in row


def test_refusals_are_one_line_and_status_2(server: str) -> None:
    watchers = [
        Watcher("--json", "--url", server, "--token", "n0t-the-key"),
        Watcher("--json", "--url", server, env={**ENV, "PERPWATCH_API_KEY": "n0t-the-key"}),
        Watcher("--json", "BTCUSDT", "NOPEUSDT", "--url", server),
        Watcher("--json", "--url", server, "--channels", "signals,ohlcv"),
    ]
    for w in watchers:
        with w:
            assert w.wait() == 2, (w.lines, w.err)
            assert len(w.err) == 1 and "Traceback" not in w.err[0], w.err
    wrong_flag, wrong_env, unknown, bad_channel = (w.err[0] for w in watchers)
    assert "HTTP 401" in wrong_flag and "wrong API key" in wrong_flag
    assert "n0t-the-key" not in wrong_flag  # the token is not repeated back
    assert "HTTP 401" in wrong_env
    assert "NOPEUSDT" in unknown and "BTCUSDT" not in unknown and watchers[2].lines == []
    assert "ohlcv" in bad_channel


def test_a_watcher_started_first_connects_once_the_server_is_up() -> None:
    port = free_port()
    with Watcher("--json", "--url", f"http://127.0.0.1:{port}") as w:
        w.wait_stderr(lambda err: len(err) >= 2)
        with serve_app(create_app(sim_settings(REDIS_ENABLED=False)), port=port):
            sub, _ = w.until(lambda m: m["type"] == "subscribed", 15)
            assert sub["since"] is None
            w.until(lambda m: m["type"] == "snapshot")
            assert w.interrupt() == 0
    tries = [line for line in w.err if "cannot connect" in line]
    assert len(tries) == len(w.err) >= 2, w.err
    assert "retrying in 0.5s" in tries[0] and "retrying in 1s" in tries[1]  # doubling


async def test_a_dropped_connection_resumes_after_the_last_seq(server: str) -> None:
    """Through a real TCP proxy: the connection drops, the proxy refuses for a while, events
    are published meanwhile; on reconnect the watcher subscribes with ``since`` and gets
    exactly those (in scope), in order, without a snapshot."""
    port = int(server.rsplit(":", 1)[1])
    with DelayProxy(port).running() as proxy:
        await asyncio.to_thread(refresh, server, "BTCUSDT")
        state = WatchState()
        notes: list[str] = []
        new_note = asyncio.Event()

        def note(line: str) -> None:
            notes.append(line)
            new_note.set()

        got: asyncio.Queue[Received] = asyncio.Queue()

        async def consume() -> None:
            stream = watch(
                f"http://127.0.0.1:{proxy.port}",
                state,
                symbols={"BTCUSDT", "ETHUSDT"},
                notice=note,
            )
            async for r in stream:
                if r.type != "heartbeat":
                    await got.put(r)

        async def next_msg() -> Msg:
            return (await asyncio.wait_for(got.get(), 10)).msg

        async def noted(word: str) -> None:
            async with asyncio.timeout(10):
                while not any(word in n for n in notes):
                    new_note.clear()
                    await new_note.wait()

        task = asyncio.create_task(consume())
        try:
            assert (await next_msg())["type"] == "subscribed"
            snap = await next_msg()
            assert snap["type"] == "snapshot" and "BTCUSDT" in {d["symbol"] for d in snap["data"]}
            await asyncio.to_thread(refresh, server, "ETHUSDT")
            last = await next_msg()
            assert last["type"] == "analysis" and last["data"]["symbol"] == "ETHUSDT"
            proxy.refusing = True
            proxy.drop()
            await noted("disconnected")
            await noted("cannot connect")  # the proxy refuses the first retry
            for symbol in ("BTCUSDT", "SOLUSDT", "ETHUSDT"):  # SOLUSDT: out of scope
                await asyncio.to_thread(refresh, server, symbol)
            proxy.refusing = False
            again = await next_msg()
            assert again["type"] == "subscribed" and again["since"] == {"signals": last["seq"]}
            missed = [await next_msg()]
            while not (
                missed[-1]["type"] == "analysis" and missed[-1]["data"]["symbol"] == "ETHUSDT"
            ):
                missed.append(await next_msg())
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    kinds = {m["type"] for m in missed}
    assert kinds <= {"analysis", "signal_change"}, kinds  # no snapshot: nothing was lost
    seqs = [m["seq"] for m in missed]
    assert seqs[0] == last["seq"] + 1 and seqs == sorted(set(seqs))  # nothing missed/repeated
    assert [m["data"]["symbol"] for m in missed if m["type"] == "analysis"] == [
        "BTCUSDT",
        "ETHUSDT",
    ]
    assert state.positions == {"signals": seqs[-1]}
    where = f"ws://127.0.0.1:{proxy.port}/ws"
    assert notes[0].startswith(f"perpwatch watch: disconnected from {where} ("), notes
    assert all(n.startswith(f"perpwatch watch: cannot connect to {where} (") for n in notes[1:-1])
    assert (
        notes[-1]
        == f"perpwatch watch: reconnected to {where}, resuming after signals #{last['seq']}"
    )


async def publish(url: str, type_: EventType, data: Msg, symbol: str) -> None:
    """One event straight onto the Redis bus, as a worker publishes it."""
    from perpwatch.push.redis_bus import RedisBus
    from perpwatch.redis_client import close_redis, open_redis

    client = open_redis(url, socket_timeout_s=5)
    bus = RedisBus(client, max_events=10_000, retention_s=3600)
    try:
        await bus.publish(type_, json.dumps(data), symbol=symbol, timeframe="15m")
    finally:
        await close_redis(client)


def test_changes_only_prints_only_signal_changes(redis_url: str) -> None:
    app = create_app(sim_settings(REDIS_URL=redis_url))
    with (
        serve_app(app) as url,
        Watcher("--json", "--changes-only", "BTCUSDT", "--url", url) as as_json,
        Watcher("--changes-only", "BTCUSDT", "--url", url, "--exit-after", "1") as as_table,
    ):
        deadline = time.monotonic() + 20
        while as_json.out.empty() or as_table.proc.poll() is None:  # until both have one
            assert time.monotonic() < deadline, (as_json.err, as_table.err)
            asyncio.run(publish(redis_url, "analysis", doc("BTCUSDT"), "BTCUSDT"))
            asyncio.run(publish(redis_url, "signal_change", change("ETHUSDT", "BUY", "SELL"),
                                "ETHUSDT"))  # fmt: skip
            asyncio.run(publish(redis_url, "signal_change", change("BTCUSDT", "HOLD", "BUY"),
                                "BTCUSDT"))  # fmt: skip
            time.sleep(0.3)
        assert as_table.wait() == 0, as_table.err
        assert as_json.interrupt() == 0
    assert as_json.lines, as_json.err
    msgs = [json.loads(line) for line in as_json.lines]
    assert {(m["type"], m["data"]["symbol"], m["data"]["to"]) for m in msgs} == {
        ("signal_change", "BTCUSDT", "BUY")
    }
    shown = [line for line in as_table.lines if "→" in line]
    assert len(shown) == 1 and "BTCUSDT" in shown[0] and "HOLD → BUY" in shown[0], shown
    assert "cross down → up" in shown[0]
