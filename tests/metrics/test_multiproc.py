"""Several processes on one host: ``perpwatch serve`` with two worker children, as real
processes on its embedded Redis. The API's ``/metrics`` adds up what the workers wrote
(the cycles they ran, their leader flag, their event loops), drops a dead worker's live
gauges but keeps its counts, and a stale file of an earlier run never counts.

:class:`MetricsDir` on its own: a private directory made, handed on and removed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from perpwatch.metrics.multiproc import MetricsDir
from perpwatch.metrics.registry import MULTIPROC_ENV
from perpwatch.testing.processes import PerpwatchProcess
from tests.support.prom import REQUIRED, Scrape, parse
from tests.support.redis_server import free_port
from tests.test_embedded import EMBEDDED, SYMBOLS, children, schedule_ok, status, wait_until

STALE = 1_000_000.0


def write_stale_counter(directory: Path) -> Path:
    """A counter file as a crashed earlier run would leave it: a million ok symbols."""
    path = directory / "counter_999999.db"
    d = MmapedDict(str(path))
    key = mmap_key("perpwatch_refresh_symbols", "perpwatch_refresh_symbols_total",
                   ["timeframe", "outcome"], ["15m", "ok"], "stale")  # fmt: skip
    d.write_value(key, STALE, 0.0)
    d.close()
    return path


def metrics(base: str) -> Scrape:
    r = httpx.get(f"{base}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    return parse(r.text)


def pids(m: Scrape, name: str, **labels: str) -> set[int]:
    return {int(s.labels["pid"]) for s in m.find(name, **labels)}


@pytest.mark.timeout(180)
def test_the_api_adds_up_its_workers_metrics(tmp_path: Path) -> None:
    directory = tmp_path / "prom"
    directory.mkdir()
    stale = write_stale_counter(directory)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**EMBEDDED, "SERVE_WORKERS": "2", MULTIPROC_ENV: str(directory)}
    with PerpwatchProcess(["serve", "--port", str(port)], env=env) as proc:
        proc.wait_http(f"{base}/health", timeout_s=60)
        wait_until(lambda: schedule_ok(base), 60, "the first cycle, by a worker")
        wait_until(lambda: len(status(base)["coordination"]["workers"]) == 2, 60, "two workers")
        workers = set(children(proc.pid)["worker"])
        assert len(workers) == 2
        assert not stale.exists()  # removed at start

        # both workers' loops have been sampled (every 0.5 s)
        lag = "perpwatch_event_loop_lag_seconds"
        wait_until(lambda: pids(metrics(base), lag, role="worker") == workers, 20,
                   "both workers' loop lag")  # fmt: skip
        m = metrics(base)
        missing = {n: t for n, t in REQUIRED.items() if m.types.get(n) != t}
        assert not missing, f"absent or of another type: {missing}"
        # the API process is a pure API: every cycle was run by a worker, the leader
        ok = m.value("perpwatch_refresh_symbols_total", outcome="ok")
        assert SYMBOLS <= ok < STALE
        assert m.value("perpwatch_refresh_duration_seconds_count", timeframe="15m") >= 1
        leaders = [s for s in m.find("perpwatch_scheduler_is_leader") if s.value == 1]
        assert len(leaders) == 1 and int(leaders[0].labels["pid"]) in workers
        assert pids(m, "perpwatch_scheduler_is_leader") == {*workers, proc.pid}
        assert pids(m, "perpwatch_event_loop_lag_seconds", role="serve") == {proc.pid}
        # and the API's own, read at scrape time, besides
        assert m.value("perpwatch_cache_redis_up") == 1
        assert m.value("perpwatch_signals_watched") == SYMBOLS
        assert m.value("perpwatch_signals_missing") == 0
        assert m.value("perpwatch_signal_age_seconds") < 30

        # a task goes through SAQ to a worker: its ending is counted there
        r = httpx.get(f"{base}/funding_monitor/latest-rates-async", timeout=10)
        assert r.status_code == 200, r.text
        task_id = r.json()["task_id"]
        wait_until(lambda: metrics(base).value("perpwatch_tasks_total",
                                               operation="funding.refresh") >= 1,
                   30, f"task {task_id} counted")  # fmt: skip

        # a dead worker: its live gauges go, its counts stay
        victim = leaders[0].labels["pid"]
        before = metrics(base)
        os.kill(int(victim), signal.SIGKILL)
        wait_until(lambda: int(victim) not in pids(metrics(base), "perpwatch_scheduler_is_leader"),
                   10, "the dead worker's gauges dropped")  # fmt: skip
        after = metrics(base)
        assert int(victim) not in pids(after, "perpwatch_event_loop_lag_seconds")
        for name in ("perpwatch_refresh_symbols_total", "perpwatch_refresh_duration_seconds_count"):
            assert after.value(name) >= before.value(name), name


def test_a_private_directory_is_made_handed_on_and_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with MetricsDir() as d:
        assert d.path is not None and d.path.is_dir()
        assert os.environ[MULTIPROC_ENV] == str(d.path)  # what the children inherit
        assert oct(d.path.stat().st_mode & 0o777) == "0o700"
        (d.path / "gauge_liveall_123.db").write_bytes(b"")
        d.process_dead(123)  # a child's live gauges removed
        assert not (d.path / "gauge_liveall_123.db").exists()
        path = d.path
    assert not path.exists()
    assert MULTIPROC_ENV not in os.environ


def test_a_given_directory_is_cleaned_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    write_stale_counter(tmp_path)
    (tmp_path / "notes.txt").write_text("not ours")
    with MetricsDir() as d:
        assert d.path == tmp_path
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert tmp_path.is_dir() and os.environ[MULTIPROC_ENV] == str(tmp_path)
