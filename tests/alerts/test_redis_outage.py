"""Alerts through a Redis outage, with a real ``perpwatch serve`` whose Redis is reached
through a loopback TCP proxy that cuts every connection and refuses new ones (a network
drop; Redis itself keeps the outbox meanwhile).

While Redis is away the process stays up and says so: the history and rule changes are
503 with a message, nothing is lost or sent twice. When it returns, the alerts queued
before the drop and those of the events published meanwhile (by a process that still
reached Redis) are all delivered, once each.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack

import httpx

from tests.alerts.processes import KEY, add_rule, changes, replicas, stopped_schedule, wait_leader
from tests.support.alert_events import publish
from tests.support.receivers import WebhookReceiver
from tests.support.tcp_proxy import DelayProxy

OUTAGE_S = 6.0


def states(url: str) -> Counter[str]:
    r = httpx.get(f"{url}/api/alerts/history?limit=100", timeout=10)
    assert r.status_code == 200, r.text
    return Counter(a["state"] for a in r.json()["data"]["alerts"])


def test_alerts_queued_before_and_during_an_outage_are_all_delivered_once(
    redis_url: str,
) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    client = stopped_schedule(redis_url)
    with ExitStack() as stack:
        proxy = stack.enter_context(DelayProxy(port).running())
        via_proxy = f"redis://127.0.0.1:{proxy.port}/0"
        receiver = stack.enter_context(WebhookReceiver())
        procs = stack.enter_context(replicas(via_proxy, 1, stack, REDIS_PROBE_INTERVAL="0.5"))
        _, url = procs[0]
        add_rule(url, receiver)
        wait_leader(client)
        time.sleep(1.5)  # the evaluator reads the new rule
        publish(redis_url, changes("A", 5))
        receiver.wait_for(5, timeout_s=20)
        receiver.clear()

        receiver.stop()  # the next alerts stay pending...
        publish(redis_url, changes("B", 5))
        deadline = time.monotonic() + 15
        while states(url)["pending"] < 5:
            assert time.monotonic() < deadline, states(url)
            time.sleep(0.2)

        proxy.refusing = True  # ...and Redis goes away
        proxy.drop()
        down_at = time.monotonic()
        time.sleep(1.0)
        r = httpx.get(f"{url}/api/alerts/history", timeout=10)
        assert r.status_code == 503 and "Redis" in r.json()["msg"], r.text
        body = {"kind": "stale", "breaker_open": True, "channel": {"type": "telegram",
                "bot_token": "123456:ABCdefGHIjklMNOpqr", "chat_id": "42"}}  # fmt: skip
        r = httpx.post(f"{url}/api/alerts/rules", json=body,
                       headers={"Authorization": f"Bearer {KEY}"}, timeout=10)  # fmt: skip
        assert r.status_code == 503 and "not stored" in r.json()["msg"], r.text
        # /health says so, though no cache operation ran since (the schedule is stopped)
        health = httpx.get(f"{url}/health", timeout=10).json()["data"]
        assert health["redis"]["state"] == "down", health["redis"]
        stats = httpx.get(f"{url}/api/gainer-analysis/cache-stats", timeout=10)
        assert stats.status_code == 200, stats.text  # answered from memory
        publish(redis_url, changes("C", 5))  # a worker that still reaches Redis
        receiver.start()
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        assert len(receiver.received) == 0  # nothing is sent without the outbox

        proxy.refusing = False  # back
        receiver.wait_for(10, timeout_s=30)
        time.sleep(1.5)  # any duplicate would arrive by now
        counts = Counter(receiver.event_ids())
        assert len(counts) == 10 and set(counts.values()) == {1}, counts.most_common(3)
        symbols = {r.json()["symbol"] for r in receiver.received}
        assert symbols == {f"{p}{i}USDT" for p in "BC" for i in range(5)}, symbols
        assert states(url) == {"delivered": 15}
        assert procs[0][0].poll() is None  # never crashed
        log = procs[0][0].log_text()
        assert "Traceback" not in log, log[-3000:]
    client.close()
