"""Live push over real connections: ``/ws`` with the ``websockets`` client, ``/api/stream``
with httpx streaming, against the real app under uvicorn (on the shared Redis, which the
cluster pass swaps for the Redis Cluster, or in memory).

Analyses are made on demand (``force_refresh``) so that each test knows which events
must come and which must not.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from perpwatch.api.app import create_app
from tests.api.conftest import API, AppFactory, sim_settings
from tests.support.http_server import serve_app
from tests.support.raw_ws import RawWebSocket
from tests.support.redis_server import RedisServer

Msg = dict[str, Any]


def ws_url(client: httpx.Client, query: str = "") -> str:
    return str(client.base_url).replace("http://", "ws://").rstrip("/") + "/ws" + query


def refresh(client: httpx.Client, symbol: str) -> None:
    r = client.post(f"{API}/analyze-symbol", json={"symbol": symbol, "force_refresh": True})
    assert r.status_code == 200, r.text


def recv(ws: ClientConnection, timeout_s: float = 10.0) -> Msg:
    msg: Msg = json.loads(ws.recv(timeout=timeout_s))
    return msg


def recv_until(
    ws: ClientConnection, pred: Callable[[Msg], bool], timeout_s: float = 10.0
) -> tuple[Msg, list[Msg]]:
    """The first message that satisfies ``pred``, and every message before it."""
    seen: list[Msg] = []
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no matching message within {timeout_s}s; got {[m['type'] for m in seen]}"
        msg = recv(ws, left)
        if pred(msg):
            return msg, seen
        seen.append(msg)


def subscribe(ws: ClientConnection, **fields: Any) -> Msg:
    ws.send(json.dumps({"type": "subscribe", **fields}))
    msg, _ = recv_until(ws, lambda m: m["type"] in ("subscribed", "error"))
    return msg


def analyses(msgs: list[Msg]) -> list[Msg]:
    return [m for m in msgs if m["type"] == "analysis"]


@pytest.fixture(params=["redis", "memory"])
def push_app(
    request: pytest.FixtureRequest, app_client: AppFactory, redis_url: str
) -> Callable[..., Any]:
    """Start the app on the shared Redis (or the cluster) and, separately, in memory."""

    @contextmanager
    def start(**overrides: object) -> Iterator[httpx.Client]:
        if request.param == "redis":
            overrides.setdefault("REDIS_URL", redis_url)
        else:
            overrides.setdefault("REDIS_ENABLED", False)
        with app_client(**overrides) as client:
            yield client

    return start


def test_snapshot_then_deltas_in_sequence_scoped_to_the_subscription(
    push_app: Callable[..., Any],
) -> None:
    with push_app() as client:
        refresh(client, "BTCUSDT")
        with connect(ws_url(client)) as ws:
            ack = subscribe(ws, channels=["signals"], symbols=["btcusdt", "ETH-USDT"])
            assert ack == {"type": "subscribed", "channels": ["signals"],
                           "symbols": ["BTCUSDT", "ETHUSDT"], "timeframes": None,
                           "since": None}  # fmt: skip
            snap = recv(ws)
            assert snap["type"] == "snapshot" and snap["channel"] == "signals"
            assert [d["symbol"] for d in snap["data"]] == ["BTCUSDT"]  # ETH not cached yet
            assert snap["data"][0]["cached"] is True and "age_seconds" in snap["data"][0]
            for symbol in ("SOLUSDT", "ETHUSDT", "XRPUSDT", "BTCUSDT"):
                refresh(client, symbol)
            first = recv(ws)
            second = recv(ws)
            got = [(m["type"], m["data"]["symbol"]) for m in (first, second)]
            assert got == [("analysis", "ETHUSDT"), ("analysis", "BTCUSDT")], got
            assert snap["seq"] < first["seq"] < second["seq"]
            # the same document analyze-symbol serves as data, computed just now
            assert second["data"]["timeframe"] == "15m" and second["data"]["cached"] is False
            doc = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"}).json()
            assert doc["data"]["timestamp_ms"] == second["data"]["timestamp_ms"]
            ws.send(json.dumps({"type": "ping"}))
            pong = recv(ws)  # SOLUSDT and XRPUSDT were never sent
            assert pong["type"] == "pong"


def test_resume_with_since_misses_nothing_and_repeats_nothing(
    push_app: Callable[..., Any],
) -> None:
    with push_app() as client:
        with connect(ws_url(client)) as ws:
            subscribe(ws, channels=["signals"])
            snap = recv(ws)
            refresh(client, "BTCUSDT")
            last = recv(ws)
            assert last["type"] == "analysis" and last["seq"] > snap["seq"]
        for symbol in ("ETHUSDT", "SOLUSDT", "BTCUSDT"):
            refresh(client, symbol)
        with connect(ws_url(client)) as ws:
            ack = subscribe(ws, channels=["signals"], since=last["seq"])
            assert ack["since"] == {"signals": last["seq"]}
            missed = [recv(ws) for _ in range(3)]
            assert [m["type"] for m in missed] == ["analysis"] * 3
            assert [m["seq"] for m in missed] == [last["seq"] + 1, last["seq"] + 2, last["seq"] + 3]
            assert [m["data"]["symbol"] for m in missed] == ["ETHUSDT", "SOLUSDT", "BTCUSDT"]
            refresh(client, "XRPUSDT")
            live = recv(ws)
            assert live["seq"] == last["seq"] + 4 and live["data"]["symbol"] == "XRPUSDT"


def test_resume_from_a_trimmed_position_gives_a_snapshot(
    app_client: AppFactory, redis_url: str, redis_sync: Callable[..., Any]
) -> None:
    with app_client(REDIS_URL=redis_url) as client:
        refresh(client, "BTCUSDT")
        refresh(client, "ETHUSDT")
        r = redis_sync()
        r.xtrim(
            "hama:push:{signals}", maxlen=1, approximate=False
        )  # as if retention had dropped seq 1
        with connect(ws_url(client)) as ws:
            subscribe(ws, channels=["signals"], since=0)
            snap = recv(ws)
            assert snap["type"] == "snapshot" and snap["seq"] == 2
            assert sorted(d["symbol"] for d in snap["data"]) == ["BTCUSDT", "ETHUSDT"]
        with connect(ws_url(client)) as ws:  # still retained: the one event after seq 1
            subscribe(ws, channels=["signals"], since=1)
            again = recv(ws)
            assert again["type"] == "analysis" and again["seq"] == 2


def test_unsubscribe_and_resubscribe_change_the_scope(push_app: Callable[..., Any]) -> None:
    with push_app() as client, connect(ws_url(client)) as ws:
        subscribe(ws, channels=["signals", "funding"], symbols=["BTCUSDT"])
        recv_until(ws, lambda m: m["type"] == "snapshot" and m["channel"] == "funding")
        ws.send(json.dumps({"type": "unsubscribe", "channels": ["signals"]}))
        gone, _ = recv_until(ws, lambda m: m["type"] == "unsubscribed")
        assert gone["remaining"] == ["funding"]
        refresh(client, "BTCUSDT")
        ack = subscribe(ws, channels=["signals"], symbols=["ETHUSDT"])  # after BTC's event
        assert ack["symbols"] == ["ETHUSDT"]
        snap = recv(ws)
        assert snap["type"] == "snapshot" and snap["data"] == []
        refresh(client, "BTCUSDT")
        refresh(client, "ETHUSDT")
        event = recv(ws)
        assert (event["type"], event["data"]["symbol"]) == ("analysis", "ETHUSDT")


def test_invalid_messages_get_an_error_and_change_nothing(push_app: Callable[..., Any]) -> None:
    with push_app() as client, connect(ws_url(client)) as ws:
        subscribe(ws, channels=["signals"], symbols=["BTCUSDT"])
        recv(ws)  # snapshot
        hostile: list[str | bytes] = [
            "not json",
            "[1,2,3]",
            '{"type": "subscribe"}',
            '{"type": "subscribe", "channels": ["signals", "ohlcv"]}',
            '{"type": "subscribe", "channels": ["signals"], "symbols": ["NOPEUSDT", "ETHUSDT"]}',
            '{"type": "subscribe", "channels": ["signals"], "symbols": [1]}',
            '{"type": "subscribe", "channels": ["signals"], "timeframes": ["7m"]}',
            '{"type": "subscribe", "channels": ["signals"], "since": -1}',
            '{"type": "subscribe", "channels": ["signals"], "since": true}',
            '{"type": "subscribe", "channels": ["signals"], "admin": 1}',
            '{"type": "drop_tables"}',
            "x" * 70_000,
            b"\xff\xfe binary",
            '{"type": "subscribe", "channels": ["signals"], "symbols": '
            + "[" * 5000
            + "]" * 5000
            + "}",
        ]
        errors = []
        for raw in hostile:
            ws.send(raw)
            errors.append(recv(ws))
        assert [e["type"] for e in errors] == ["error"] * len(hostile)
        msgs = [e["msg"] for e in errors]
        assert "NOPEUSDT" in msgs[4] and "ETHUSDT" not in msgs[4]  # the unknown one, named
        assert "ohlcv" in msgs[3] and "7m" in msgs[6] and "15m" in msgs[6]
        assert "admin" in msgs[9] and "too large" in msgs[11]
        assert not any("Traceback" in m for m in msgs)
        refresh(client, "ETHUSDT")  # the failed subscribes did not widen the scope
        refresh(client, "BTCUSDT")
        event = recv(ws)
        assert (event["type"], event["data"]["symbol"]) == ("analysis", "BTCUSDT")


def test_message_flood_is_throttled_not_disconnected(push_app: Callable[..., Any]) -> None:
    with push_app() as client, connect(ws_url(client)) as ws:
        for _ in range(100):
            ws.send('{"type": "ping"}')
        replies = [recv(ws) for _ in range(100)]
        kinds = {m["type"] for m in replies}
        assert kinds == {"pong", "error"}
        assert any("too many messages" in m.get("msg", "") for m in replies)
        time.sleep(1.0)
        ws.send('{"type": "ping"}')
        assert recv(ws)["type"] == "pong"


def test_heartbeats_and_pings(push_app: Callable[..., Any]) -> None:
    with push_app(PUSH_HEARTBEAT_SECONDS=1) as client, connect(ws_url(client)) as ws:
        t0 = time.monotonic()
        beats = [recv(ws, 3) for _ in range(2)]
        assert [b["type"] for b in beats] == ["heartbeat", "heartbeat"]
        assert 1.5 < time.monotonic() - t0 < 4.0
        assert abs(beats[1]["ts"] / 1000 - time.time()) < 5
        pong_waiter = ws.ping()  # the WebSocket protocol's own ping
        assert pong_waiter.wait(5)


KEY = "push-test-key-0123456789"


def test_auth_key_token_header_and_anonymous_limit(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False, API_KEY=KEY, PUSH_MAX_ANON_CONNECTIONS_PER_IP=2) as client:
        for bad in ("?token=wrong", "?token=" + KEY + "x"):
            with pytest.raises(InvalidStatus) as refused, connect(ws_url(client, bad)):
                pass
            assert refused.value.response.status_code == 401
        with (
            pytest.raises(InvalidStatus) as refused,
            connect(ws_url(client), additional_headers={"Authorization": "Bearer nope"}),
        ):
            pass
        assert refused.value.response.status_code == 401
        stack = ExitStack()
        anon = [stack.enter_context(connect(ws_url(client))) for _ in range(2)]
        with pytest.raises(InvalidStatus) as refused, connect(ws_url(client)):
            pass
        assert refused.value.response.status_code == 429
        assert b"without the API key" in refused.value.response.body
        keyed = [
            stack.enter_context(connect(ws_url(client, "?token=" + KEY))),
            stack.enter_context(
                connect(ws_url(client), additional_headers={"Authorization": f"Bearer {KEY}"})
            ),
        ]
        for ws in keyed:
            ws.send('{"type": "ping"}')
            assert recv(ws)["type"] == "pong"
        anon[0].close()
        time.sleep(0.3)
        stack.enter_context(connect(ws_url(client)))  # a place was freed
        stack.close()
        sse = client.get("/api/stream", params={"token": "wrong"})
        assert sse.status_code == 401 and sse.json()["code"] == 0


def test_a_slow_client_is_reset_then_closed_and_its_queue_stays_bounded(
    app_client: AppFactory, redis_url: str, on_cluster: frozenset[str]
) -> None:
    """A client that stops reading: its socket and uvicorn's buffer fill, the send blocks,
    its queue (10) overflows, and it gets one reset and a snapshot; when it overflows again
    it is closed with 1013. No queue ever holds more than 10 events, and a client that
    reads, on the same process, gets every event."""
    cluster = redis_url in on_cluster
    with app_client(REDIS_URL=redis_url, PUSH_CLIENT_QUEUE=10) as client:
        slow = RawWebSocket(ws_url(client))
        slow.send_text(json.dumps({"type": "subscribe", "channels": ["signals"]}))
        assert [json.loads(slow.read())["type"] for _ in range(2)] == ["subscribed", "snapshot"]
        with connect(ws_url(client), max_size=None) as fast:
            subscribe(fast, channels=["signals"])
            recv(fast)  # snapshot
            fast_seqs: list[int] = []
            fast_kinds: list[str] = []

            def read_fast() -> None:
                while len(fast_seqs) < 120:
                    m = recv(fast, 30)
                    fast_kinds.append(m["type"])
                    if m["type"] == "analysis":
                        fast_seqs.append(m["seq"])

            def peak() -> int:
                return int(client.get("/health").json()["data"]["push"]["peak_queued"])

            reader = threading.Thread(target=read_fast, daemon=True)
            reader.start()
            asyncio.run(publish(redis_url, cluster, 60))
            time.sleep(0.5)
            peaks = [peak()]
            kinds: list[str] = []
            while not kinds or kinds[-1] != "reset":
                kinds.append(json.loads(slow.read(20))["type"])
            assert "analysis" in kinds, "some events went out before the queue overflowed"
            assert json.loads(slow.read(20))["type"] == "snapshot"
            asyncio.run(publish(redis_url, cluster, 60))  # overflows again within 30 s
            reader.join(60)
            time.sleep(0.5)
            peaks.append(peak())
            with pytest.raises(ConnectionError):
                while True:
                    slow.read(20)
            assert slow.close_code == 1013
            slow.close()
            assert fast_seqs == sorted(set(fast_seqs)) and len(fast_seqs) == 120, fast_kinds[:5]
            assert "reset" not in fast_kinds
            assert 1 <= max(peaks) <= 10, peaks
        push = client.get("/health").json()["data"]["push"]
        assert push["slow_closed"] == 1 and push["resets"] >= 1


async def publish(url: str, cluster: bool, n: int) -> None:
    """``n`` large events straight onto the bus, as a worker would publish them."""
    from perpwatch.push.redis_bus import RedisBus
    from perpwatch.redis_client import close_redis, open_redis

    client = open_redis(url, cluster=cluster, socket_timeout_s=5)
    bus = RedisBus(client, max_events=10_000, retention_s=3600)
    big = json.dumps({"symbol": "BTCUSDT", "pad": "x" * 1_000_000})
    try:
        for _ in range(n):  # paced, so that a client that reads keeps up
            await bus.publish("analysis", big, symbol="BTCUSDT", timeframe="15m")
            await asyncio.sleep(0.02)
    finally:
        await close_redis(client)


def test_redis_outage_keeps_clients_connected_and_events_resume(
    app_client: AppFactory, fresh_redis_server: RedisServer
) -> None:
    with (
        app_client(
            REDIS_URL=fresh_redis_server.url, REDIS_PROBE_INTERVAL=0.2, PUSH_HEARTBEAT_SECONDS=1
        ) as client,
        connect(ws_url(client)) as ws,
    ):
        subscribe(ws, channels=["signals"], symbols=["BTCUSDT"])
        recv(ws)  # snapshot
        fresh_redis_server.stop()
        beats = [recv(ws, 5) for _ in range(2)]  # the connection lives on
        assert {b["type"] for b in beats} == {"heartbeat"}
        refresh(client, "BTCUSDT")  # computed and cached in memory; its event is lost
        fresh_redis_server.start()
        reset, _ = recv_until(ws, lambda m: m["type"] == "reset", 15)
        assert reset["channels"] == ["signals"]
        snap, _ = recv_until(ws, lambda m: m["type"] == "snapshot", 10)
        assert [d["symbol"] for d in snap["data"]] == ["BTCUSDT"]
        deadline = time.monotonic() + 10
        while True:  # once the cache is on Redis again, a new analysis is pushed
            refresh(client, "BTCUSDT")
            try:
                event, _ = recv_until(ws, lambda m: m["type"] == "analysis", 1.5)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "no event after Redis came back"
        assert event["data"]["symbol"] == "BTCUSDT" and event["seq"] >= 1


# --- SSE ---------------------------------------------------------------------------


def sse_events(lines: Iterator[str], count: int) -> list[dict[str, str]]:
    """The next ``count`` events (id/event/data) of an SSE stream; comments are skipped."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "event" in current:
                out.append(current)
                if len(out) == count:
                    return out
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            current[name] = value
    raise AssertionError(f"stream ended after {len(out)} events")


def test_sse_streams_and_resumes_with_last_event_id(push_app: Callable[..., Any]) -> None:
    with push_app(PUSH_HEARTBEAT_SECONDS=1) as client:
        refresh(client, "BTCUSDT")
        params = {"channels": "signals", "symbols": "BTCUSDT,ETHUSDT"}
        with client.stream("GET", "/api/stream", params=params) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            sub, snap = sse_events(lines, 2)
            assert sub["event"] == "subscribed" and "id" not in sub
            assert snap["event"] == "snapshot" and snap["id"].startswith("signals:")
            refresh(client, "ETHUSDT")
            (event,) = sse_events(lines, 1)
            seq = int(snap["id"].split(":")[1])
            assert event["event"] == "analysis" and event["id"] == f"signals:{seq + 1}"
            assert json.loads(event["data"])["data"]["symbol"] == "ETHUSDT"
        refresh(client, "BTCUSDT")
        refresh(client, "SOLUSDT")  # out of scope
        refresh(client, "ETHUSDT")
        headers = {"Last-Event-ID": event["id"]}
        with client.stream("GET", "/api/stream", params=params, headers=headers) as r:
            lines = r.iter_lines()
            _sub, a, b = sse_events(lines, 3)
            assert (a["event"], b["event"]) == ("analysis", "analysis")
            assert [a["id"], b["id"]] == [f"signals:{seq + 2}", f"signals:{seq + 4}"]
            raw = []
            for line in lines:  # a heartbeat comment comes within PUSH_HEARTBEAT_SECONDS
                raw.append(line)
                if line.startswith(": heartbeat"):
                    break
            assert raw[-1].startswith(": heartbeat")


def test_sse_with_several_channels_carries_every_position(push_app: Callable[..., Any]) -> None:
    with push_app() as client:
        params = {"channels": "signals,funding", "symbols": "BTCUSDT"}
        with client.stream("GET", "/api/stream", params=params) as r:
            _sub, s1, s2 = sse_events(r.iter_lines(), 3)
        assert s1["id"].startswith("signals:") and "," not in s1["id"]
        assert s2["id"].startswith(s1["id"] + ",funding:")
        with client.stream("GET", "/api/stream", params=params,
                           headers={"Last-Event-ID": s2["id"]}) as r:  # fmt: skip
            refresh(client, "BTCUSDT")
            _sub, event = sse_events(r.iter_lines(), 2)  # no snapshots: nothing was missed
        assert event["event"] == "analysis"


@pytest.mark.parametrize(
    ("params", "headers", "fragment"),
    [
        ({"channels": "signals,ohlcv"}, {}, "ohlcv"),
        ({"channels": ""}, {}, "empty"),
        ({"symbols": "NOPEUSDT"}, {}, "NOPEUSDT"),
        ({"symbols": "BTC/USDT/X"}, {}, "BTCUSDTX"),
        ({"symbols": "!!"}, {}, "invalid symbol"),
        ({"timeframes": "2h"}, {}, "2h"),
        ({}, {"Last-Event-ID": "signals:abc"}, "Last-Event-ID"),
        ({}, {"Last-Event-ID": "funding:3"}, "Last-Event-ID"),
        ({"last_event_id": "signals:-1"}, {}, "Last-Event-ID"),
        ({"symbols": "A" * 9000}, {}, ""),
    ],
)
def test_sse_hostile_queries_are_4xx_with_the_envelope(
    app_client: AppFactory, params: dict[str, str], headers: dict[str, str], fragment: str
) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        r = client.get("/api/stream", params=params, headers=headers)
        assert 400 <= r.status_code < 500, r.text
        body = r.json()
        assert body["code"] == 0 and body["data"] is None
        text = json.dumps(body)
        assert fragment in text and "Traceback" not in text


def test_funding_events_are_cut_to_the_subscribed_symbols(push_app: Callable[..., Any]) -> None:
    with (
        push_app() as client,
        connect(ws_url(client), max_size=None) as some,
        connect(ws_url(client), max_size=None) as every,
    ):
        subscribe(some, channels=["funding"], symbols=["BTCUSDT", "ETHUSDT"])
        subscribe(every, channels=["funding"])
        assert recv(some)["type"] == recv(every)["type"] == "snapshot"
        r = client.get("/funding_monitor/latest-rates-async")
        assert r.status_code == 200, r.text
        cut, _ = recv_until(some, lambda m: m["type"] == "funding", 30)
        whole, _ = recv_until(every, lambda m: m["type"] == "funding", 30)
        assert cut["seq"] == whole["seq"] and cut["data"]["exchange"] == whole["data"]["exchange"]
        assert sorted(cut["data"]["rows"]) == ["BTCUSDT", "ETHUSDT"]
        assert len(whole["data"]["rows"]) > 100
        assert cut["data"]["rows"]["BTCUSDT"] == whole["data"]["rows"]["BTCUSDT"]
        snap_some = subscribe(some, channels=["funding"], symbols=["BTCUSDT"])
        assert snap_some["symbols"] == ["BTCUSDT"]
        snap = recv(some)  # the snapshot is cut the same way
        assert snap["type"] == "snapshot" and list(snap["data"][0]["rows"]) == ["BTCUSDT"]


def test_a_changed_recommendation_publishes_a_signal_change(
    app_client: AppFactory, redis_url: str, redis_sync: Callable[..., Any]
) -> None:
    """The cached analysis says otherwise than the next one: one ``signal_change`` event,
    after the ``analysis`` event, with both recommendations and cross directions."""
    with app_client(REDIS_URL=redis_url) as client:
        refresh(client, "BTCUSDT")
        r = redis_sync()
        doc = json.loads(r.get("hama:analysis:BTCUSDT"))
        real_rec = doc["hama_analysis"]["recommendation"]
        real_cross = doc["hama_analysis"]["signals"]["last_cross_direction"]
        fake = {"BUY": "SELL", "SELL": "HOLD", "HOLD": "BUY"}[real_rec]
        doc["hama_analysis"]["recommendation"] = fake  # as if the last one had said that
        doc["hama_analysis"]["signals"]["last_cross_direction"] = -real_cross or 1
        r.set("hama:analysis:BTCUSDT", json.dumps(doc, separators=(",", ":")), ex=300)
        with connect(ws_url(client)) as ws:
            subscribe(ws, channels=["signals"], symbols=["BTCUSDT"])
            recv(ws)  # snapshot
            refresh(client, "BTCUSDT")
            analysis, change = recv(ws), recv(ws)
            assert analysis["type"] == "analysis" and change["type"] == "signal_change"
            assert change["seq"] == analysis["seq"] + 1
            data = change["data"]
            assert (data["from"], data["to"]) == (fake, real_rec)
            assert (data["cross_from"], data["cross_to"]) == (-real_cross or 1, real_cross)
            assert data["changed"] == ["recommendation", "cross"]
            assert data["candle_close_time"] == analysis["data"]["candle_close_time"]
            assert data["computed_at"] == analysis["data"]["timestamp"]
            refresh(client, "BTCUSDT")  # the same signal again: an analysis, no change
            assert recv(ws)["type"] == "analysis"
            ws.send('{"type": "ping"}')
            assert recv(ws)["type"] == "pong"


def test_a_funding_refresh_of_several_exchanges_publishes_the_arbitrage_view(
    app_client: AppFactory, redis_url: str
) -> None:
    from perpwatch.emulator import running_emulator

    with (
        running_emulator() as url,
        app_client(
            REDIS_URL=redis_url, FUNDING_EXCHANGES="binanceusdm,bybit,okx", EXCHANGE_API_URL=url
        ) as client,
        connect(ws_url(client), max_size=None) as ws,
    ):
        subscribe(ws, channels=["arbitrage", "funding"])
        recv_until(ws, lambda m: m["type"] == "snapshot" and m["channel"] == "funding")
        assert client.get("/funding_monitor/latest-rates-async").status_code == 200
        event, before = recv_until(ws, lambda m: m["type"] == "arbitrage", 30)
        tables = {m["data"]["exchange"] for m in before if m["type"] == "funding"}
        assert tables == {"binanceusdm", "bybit", "okx"}  # each table, then the view
        view = event["data"]
        assert view["exchanges"] == ["binanceusdm", "bybit", "okx"]
        assert view["count"] == len(view["opportunities"]) > 0
        rest = client.get("/funding_monitor/arbitrage", params={"limit": 5000}).json()
        assert [o["symbol"] for o in view["opportunities"]] == [
            o["symbol"] for o in rest["opportunities"]
        ]
        with connect(ws_url(client), max_size=None) as late:  # its snapshot is that view
            subscribe(late, channels=["arbitrage"])
            snap = recv(late)
            assert snap["type"] == "snapshot" and snap["data"] == [view]


def test_a_pushed_analysis_ends_the_near_cache_copy(
    app_client: AppFactory,
    redis_url: str,
    redis_sync: Callable[..., Any],
    on_cluster: frozenset[str],
) -> None:
    """A worker writes a newer analysis and publishes it: the API's near cache (here 30 s)
    drops its copy when the event comes, so the next hit is the newer one."""
    with (
        app_client(REDIS_URL=redis_url, NEAR_CACHE_SECONDS=30) as client,
        connect(ws_url(client), max_size=None) as ws,
    ):
        subscribe(ws, channels=["signals"], symbols=["BTCUSDT"])
        recv_until(ws, lambda m: m["type"] == "snapshot")
        refresh(client, "BTCUSDT")
        # the refresh's own event has reached this API (it ends near copies before clients
        # get it), so it cannot come late and end the copy the next read makes
        recv_until(ws, lambda m: m["type"] == "analysis")
        first = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"}).json()["data"]
        assert first["cache_source"] == "redis"  # and now in the near cache
        r = redis_sync()
        doc = json.loads(r.get("hama:analysis:BTCUSDT"))
        doc["timestamp_ms"] += 1  # "newer", as a worker's next analysis would be
        text = json.dumps(doc, separators=(",", ":"))
        r.set("hama:analysis:BTCUSDT", text, ex=300)
        stale = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"}).json()["data"]
        assert stale["timestamp_ms"] == first["timestamp_ms"]  # the near copy, no event yet
        asyncio.run(publish_one(redis_url, redis_url in on_cluster, text))
        deadline = time.monotonic() + 5
        while True:
            got = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"}).json()["data"]
            if got["timestamp_ms"] == doc["timestamp_ms"]:
                break
            assert time.monotonic() < deadline, "the near cache kept its copy after the event"
            time.sleep(0.05)


async def publish_one(url: str, cluster: bool, data: str) -> None:
    from perpwatch.push.redis_bus import RedisBus
    from perpwatch.redis_client import close_redis, open_redis

    client = open_redis(url, cluster=cluster, socket_timeout_s=5)
    try:
        bus = RedisBus(client, max_events=1000, retention_s=3600)
        await bus.publish("analysis", data, symbol="BTCUSDT", timeframe="15m")
    finally:
        await close_redis(client)


@pytest.mark.parametrize("deflate", [False, True], ids=["direct", "asgi"])
def test_frames_written_directly_or_through_asgi_arrive_alike(deflate: bool) -> None:
    """As ``perpwatch serve`` runs uvicorn (no compression), a batch of frames is written to
    the socket at once; when a server has compression on and the client asks for it, the
    frames go through ASGI, compressed. The client reads the same messages either way."""
    app = create_app(sim_settings(REDIS_ENABLED=False))
    with (
        serve_app(app, ws_per_message_deflate=deflate) as url,
        httpx.Client(base_url=url, timeout=30) as client,
        connect(ws_url(client), max_size=None) as ws,  # offers permessage-deflate
    ):
        subscribe(ws, channels=["signals"], symbols=["BTCUSDT", "ETHUSDT"])
        assert recv(ws)["type"] == "snapshot"
        push = client.get("/health").json()["data"]["push"]
        assert push["connections"] == 1 and push["direct"] == (0 if deflate else 1)
        negotiated = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
        assert (negotiated is not None) == deflate
        for symbol in ("BTCUSDT", "ETHUSDT", "BTCUSDT"):
            refresh(client, symbol)
        got = [recv(ws) for _ in range(3)]
        assert [(m["type"], m["data"]["symbol"]) for m in got] == [
            ("analysis", "BTCUSDT"), ("analysis", "ETHUSDT"), ("analysis", "BTCUSDT")
        ]  # fmt: skip
        assert got[0]["seq"] < got[1]["seq"] < got[2]["seq"]
        ws.send(json.dumps({"type": "ping"}))  # control frames still come, in order
        assert recv(ws)["type"] == "pong"
