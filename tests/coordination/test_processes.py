"""API replicas and workers as real processes on one real Redis, against the emulator.

Three ``perpwatch serve`` replicas (no shards, no candidacy: pure API) and two
``perpwatch worker`` processes (shards and scheduler candidates) share one Redis; ccxt
talks to perpwatch's Binance emulator. Cycles are compressed (every 6 s), the lease is 3 s.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from perpwatch.testing.processes import PerpwatchProcess, wait_http
from tests.support.redis_server import RedisServer, free_port

API = "/api/gainer-analysis"
SYMBOLS = 20
LEASE_S = 3.0


@dataclass
class Group:
    redis: redis.Redis
    emulator: str
    apis: list[tuple[PerpwatchProcess, str]]
    workers: list[PerpwatchProcess]

    def state(self) -> dict[str, Any]:
        raw = self.redis.get("hama:scheduler:state")
        return json.loads(raw) if raw else {}

    def leader(self) -> str | None:
        raw = self.redis.get("hama:scheduler:lease")
        return raw.decode() if raw else None

    def worker_ids(self) -> dict[str, PerpwatchProcess]:
        """Process id -> worker process, from the registry's pids."""
        out: dict[str, PerpwatchProcess] = {}
        for value in self.redis.hgetall("hama:processes").values():
            rec = json.loads(value)
            for w in self.workers:
                if w.poll() is None and rec["pid"] == w.pid:
                    out[rec["id"]] = w
        return out


def wait_until(cond: Callable[[], object], timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while not cond():
        assert time.monotonic() - start < timeout_s, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - start


@contextmanager
def group(*, latency_ms: int = 0, extra: dict[str, str] | None = None) -> Iterator[Group]:
    with ExitStack() as stack:
        srv = stack.enter_context(RedisServer())
        emu_port = free_port()
        stack.enter_context(PerpwatchProcess(
            ["emulator", "--port", str(emu_port), "--latency-ms", str(latency_ms), "--no-limits"]
        ))  # fmt: skip
        emulator = f"http://127.0.0.1:{emu_port}"
        wait_http(f"{emulator}/fapi/v1/ping", timeout_s=60)
        env = {
            "MARKET": "binanceusdm", "EXCHANGE_API_URL": emulator, "REDIS_URL": srv.url,
            "SYMBOLS_LIMIT": str(SYMBOLS), "HAMA_SCHEDULER_INTERVAL": "0.1",
            "HAMA_CACHE_TTL": "60", "SCHEDULER_LEASE_SECONDS": str(LEASE_S),
            "SHARD_RECLAIM_SECONDS": "1.5", "REFRESH_SHARD_SIZE": "4",
            "FUNDING_CHECK_ENABLED": "false", "TASK_BACKEND": "saq", "LOG_LEVEL": "INFO",
            **(extra or {}),
        }  # fmt: skip
        workers = [
            stack.enter_context(PerpwatchProcess(["worker"], env=env, stop_timeout_s=5))
            for _ in range(2)
        ]
        api_env = {**env, "PROCESS_SHARDS": "false", "HAMA_SCHEDULER_AUTO_START": "false",
                   "TASK_LOCAL_WORKER": "false"}  # fmt: skip
        apis = []
        for _ in range(3):
            port = free_port()
            proc = stack.enter_context(
                PerpwatchProcess(["serve", "--port", str(port)], env=api_env, stop_timeout_s=5)
            )
            apis.append((proc, f"http://127.0.0.1:{port}"))
        for proc, url in apis:
            wait_http(f"{url}/health", timeout_s=90, alive=lambda p=proc: p.poll() is None,
                      why_not=proc.log_tail)  # fmt: skip
        client = redis.Redis.from_url(srv.url)
        stack.callback(client.close)
        yield Group(client, emulator, apis, workers)


def runs(g: Group) -> int:
    return int(g.state().get("runs", 0))


def klines(emulator: str) -> int:
    stats = httpx.get(f"{emulator}/_emulator/stats").json()
    return int(stats["requests"].get("/fapi/v1/klines", 0))


@pytest.mark.timeout(240)
def test_replicas_run_each_cycle_once_and_a_killed_leader_is_replaced_within_the_lease() -> None:
    with group() as g:
        wait_until(lambda: runs(g) >= 1, 90, "the first cycle")
        httpx.post(f"{g.emulator}/_emulator/reset")
        first = runs(g)
        wait_until(lambda: runs(g) >= first + 2, 60, "two more cycles")
        wait_until(lambda: g.state().get("current_run") is None, 20, "no cycle in progress")
        # five processes, one schedule: each symbol fetched once per cycle, incrementally,
        # exactly what one process alone costs
        done = runs(g) - first
        assert klines(g.emulator) == SYMBOLS * done
        stats = httpx.get(f"{g.emulator}/_emulator/stats").json()
        assert stats["weight_by_path"]["/fapi/v1/klines"] == SYMBOLS * done
        claims = [k for k in g.redis.scan_iter("hama:cycle:15m:*") if not k.endswith(b":shards")]
        assert len(claims) == runs(g)  # every cycle claimed once

        last = g.state()["last_run"]
        assert last["ok"] == SYMBOLS and last["shards"]["done"] == SYMBOLS // 4
        workers = {s["worker"] for s in last["shards"]["shards"]}
        assert workers <= set(g.worker_ids())

        # the workers' events reach the push clients of every API replica, alike
        streams = [PushEvents(url, count=SYMBOLS) for _, url in g.apis[:2]]
        for t in streams:
            t.join(60)
        got = [t.events for t in streams]
        assert all(len(e) >= SYMBOLS for e in got), [len(e) for e in got]
        by_seq = [dict(e) for e in got]
        common = sorted(set(by_seq[0]) & set(by_seq[1]))
        assert len(common) >= SYMBOLS // 2
        assert all(by_seq[0][q] == by_seq[1][q] for q in common)  # one stream, every replica
        seqs = [seq for seq, _ in got[0]]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert {sym for _, sym in got[0]} <= set(g.state()["status"]["symbols"])

        # workers yield the CPU to serving on a shared host (WORKER_NICE, default 10)
        for w in g.workers:
            stat = Path(f"/proc/{w.pid}/stat").read_text().rsplit(")", 1)[1].split()
            assert int(stat[16]) == 10  # the nice field

        # every API replica serves hits and tells the same story
        leaders = set()
        for _, url in g.apis:
            status = httpx.get(f"{url}{API}/scheduler/status").json()["data"]
            coord = status["coordination"]
            assert coord["role"] == "serve" and coord["is_leader"] is False
            assert sorted(coord["workers"]) == sorted(g.worker_ids())
            leaders.add(coord["leader"])
            assert status["symbols_count"] == SYMBOLS and status["last_run"]["ok"] == SYMBOLS
            r = httpx.post(f"{url}{API}/analyze-symbol", json={"symbol": status["symbols"][0]})
            assert r.status_code == 200 and r.json()["data"]["cached"] is True
        assert leaders == {g.leader()}

        # an API replica computes nothing itself: a miss is a task the workers run
        _, api = g.apis[1]
        listed = json.loads(g.redis.get("hama:symbols:listed") or b"[]")
        unwatched = next(s for s in listed if s not in g.state()["status"]["symbols"])
        r = httpx.post(f"{api}{API}/analyze-symbol", json={"symbol": unwatched}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["cached"] is False and r.json()["data"]["symbol"] == unwatched
        tasks = httpx.get(f"{api}/api/tasks", params={"limit": 50}).json()["data"]["tasks"]
        assert any(t["operation"] == "hama.analyze" and t["status"] == "completed"
                   for t in tasks)  # fmt: skip
        r = httpx.post(f"{api}{API}/analyze-symbol", json={"symbol": "NOSUCHUSDT"}, timeout=30)
        assert r.status_code == 404 and r.json()["msg"] == "unknown symbol: NOSUCHUSDT"
        r = httpx.post(f"{api}{API}/analyze-symbol", json={"symbol": unwatched})
        assert r.json()["data"]["cached"] is True  # the worker's result, now a hit

        # stop and start through an API replica reach the leader
        r = httpx.post(f"{api}{API}/scheduler/stop")
        assert r.status_code == 200 and r.json()["data"]["control"]["running"] is False
        wait_until(lambda: g.state()["status"]["running"] is False, 5, "the leader to stop")
        r = httpx.post(f"{api}{API}/scheduler/start", json={"symbols": ["NOSUCHUSDT"]})
        assert r.status_code == 404
        r = httpx.post(f"{api}{API}/scheduler/start", json={})
        assert r.status_code == 200
        wait_until(lambda: g.state()["status"]["running"] is True, 5, "the leader to start")

        # SIGKILL the leader: another process leads within the lease; no watched symbol
        # misses the cache meanwhile
        symbols = g.state()["status"]["symbols"]
        old = g.leader()
        assert old is not None
        g.worker_ids()[old].proc.kill()
        killed_at = time.monotonic()
        misses: list[str] = []
        _, api = g.apis[0]

        def new_leader() -> bool:
            body = httpx.get(f"{api}{API}/signals").json()["data"]
            misses.extend(body["missing"])
            return g.leader() not in (None, old)

        took = wait_until(new_leader, 3 * LEASE_S, "a new leader")
        assert time.monotonic() - killed_at <= LEASE_S + 0.5, f"takeover took {took:.2f}s"
        before = runs(g)
        wait_until(lambda: runs(g) > before, 30, "a cycle under the new leader")
        assert misses == []
        body = httpx.get(f"{api}{API}/signals").json()["data"]
        assert body["missing"] == [] and body["count"] == len(symbols)


class PushEvents(threading.Thread):
    """Subscribes to ``url``'s /ws for signals and keeps (seq, symbol) of the first
    ``count`` analysis events (the replica computes nothing: they are the workers')."""

    def __init__(self, url: str, *, count: int) -> None:
        super().__init__(daemon=True)
        self.url = url.replace("http://", "ws://") + "/ws"
        self.count = count
        self.events: list[tuple[int, str]] = []
        self.ready = threading.Event()
        self.start()
        assert self.ready.wait(10), "no subscription"

    def run(self) -> None:
        from websockets.sync.client import connect

        with connect(self.url, max_size=None) as ws:
            ws.send(json.dumps({"type": "subscribe", "channels": ["signals"]}))
            while len(self.events) < self.count:
                msg = json.loads(ws.recv(timeout=30))
                if msg["type"] == "snapshot":
                    self.ready.set()
                elif msg["type"] == "analysis":
                    self.events.append((msg["seq"], msg["data"]["symbol"]))


class KeyspaceCounter:
    """Counts SETs of ``hama:analysis:*`` keys through Redis keyspace notifications."""

    def __init__(self, client: redis.Redis) -> None:
        client.config_set("notify-keyspace-events", "K$")
        self.pubsub = client.pubsub()
        self.pubsub.psubscribe("__keyspace@0__:hama:analysis:*")
        self.sets: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.pubsub.get_message(timeout=0.1)
            if msg and msg["type"] == "pmessage" and msg["data"] == b"set":
                self.sets[msg["channel"].decode().rsplit(":", 1)[1]] += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.pubsub.close()


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_cycle_its_shard_is_redone_and_every_symbol_written_once() -> None:
    slow = {"REFRESH_CONCURRENCY": "1", "WORKER_SHARD_SLOTS": "1", "HAMA_SCHEDULER_INTERVAL": "1"}
    with group(latency_ms=250, extra=slow) as g:
        counter = KeyspaceCounter(g.redis)
        try:

            def running_shard() -> tuple[str, str] | None:
                """A shard the non-leader works on now, read from the cycle's board."""
                cur = g.state().get("current_run")
                if not cur or not cur.get("cycle_id"):
                    return None
                board = g.redis.hgetall(f"hama:cycle:{cur['cycle_id']}:shards")
                for field, value in board.items():
                    if field.startswith(b"shard:"):
                        s = json.loads(value)
                        if s["state"] == "running" and s["worker"] not in (None, g.leader()):
                            return cur["cycle_id"], s["worker"]
                return None

            wait_until(lambda: running_shard() is not None, 120, "a shard on the non-leader")
            found = running_shard()
            assert found is not None
            cycle_id, victim = found
            g.worker_ids()[victim].proc.kill()
            wait_until(lambda: (g.state().get("last_run") or {}).get("cycle_id") == cycle_id,
                       60, "the cycle to complete")  # fmt: skip
            last = g.state()["last_run"]
            assert last["ok"] == SYMBOLS and last["failed"] == 0
            assert {s["state"] for s in last["shards"]["shards"]} == {"done"}
            assert any(s["attempts"] >= 2 for s in last["shards"]["shards"])
            done_runs = runs(g)
            time.sleep(0.5)
        finally:
            counter.close()
        # a later cycle (the next one, or one at a real 15m candle close) may already have
        # rewritten a symbol since: it counts once more, and its cycle id is a later one
        state = g.state()
        later = runs(g) - done_runs + (1 if state.get("current_run") else 0)
        start_ms = int(cycle_id.rsplit(":", 1)[1])
        for symbol in state["status"]["symbols"]:
            doc = json.loads(g.redis.get(f"hama:analysis:{symbol}") or b"{}")
            written = doc.get("cycle_id") or ""
            if later == 0:
                assert written == cycle_id, symbol
            else:
                assert int(written.rsplit(":", 1)[1]) >= start_ms, (symbol, written)
        most = max(counter.sets.values())
        assert most == 1 if later == 0 else most <= 1 + later, (counter.sets, later)
