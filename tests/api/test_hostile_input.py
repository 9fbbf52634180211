"""Nasty input, endpoint by endpoint: a clear 4xx in the area's envelope, no stack trace,
nothing echoed raw, nothing logged raw, and the cache, the tasks and the schedule unchanged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from perpwatch.api.logsafe import clip
from tests.api.conftest import API, AppFactory

KEY = "hostile-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
JSON = {"content-type": "application/json", **AUTH}
LONG = "A" * 10_000
FLOOD = "Z" * 300  # longer than anything may be echoed
SERVER_LOGGERS = ("perpwatch", "uvicorn", "starlette", "fastapi")


def raw(body: bytes | str, content_type: str | None = "application/json") -> dict[str, Any]:
    headers = dict(AUTH)
    if content_type is not None:
        headers["content-type"] = content_type
    return {"content": body, "headers": headers}


def js(body: object) -> dict[str, Any]:
    return {"json": body, "headers": AUTH}


ANALYZE = f"{API}/analyze-symbol"
START = f"{API}/scheduler/start"
REFRESH = f"{API}/refresh"

# (method, path, request kwargs, expected status)
CASES: list[tuple[str, str, dict[str, Any], int]] = [
    # --- analyze-symbol: malformed or mistyped JSON -> 422
    ("POST", ANALYZE, raw(b'{"symbol":'), 422),
    ("POST", ANALYZE, raw(b'{"symbol": "BTCUSDT",}'), 422),
    ("POST", ANALYZE, raw(b"[]"), 422),
    ("POST", ANALYZE, raw(b'"BTCUSDT"'), 422),
    ("POST", ANALYZE, raw(b"null"), 422),
    ("POST", ANALYZE, raw(b""), 422),
    ("POST", ANALYZE, js({}), 422),
    ("POST", ANALYZE, js({"symbol": 123}), 422),
    ("POST", ANALYZE, js({"symbol": None}), 422),
    ("POST", ANALYZE, js({"symbol": ["BTCUSDT"]}), 422),
    ("POST", ANALYZE, raw(b'{"symbol": NaN}'), 422),
    ("POST", ANALYZE, js({"symbol": "BTCUSDT", "force_refresh": "yes"}), 422),
    ("POST", ANALYZE, js({"symbol": "BTCUSDT", "force_refresh": 1}), 422),
    ("POST", ANALYZE, js({"symbol": "BTCUSDT", "nope": 1}), 422),
    ("POST", ANALYZE, js({"symbol": "BTCUSDT", FLOOD + "\n\x1b[31m": 1}), 422),
    ("POST", ANALYZE, js({"symbol": LONG}), 422),
    ("POST", ANALYZE, js({"symbol": "A" * 41}), 422),
    # undecodable, too deep or absurd numbers: refused, never a 500
    ("POST", ANALYZE, raw(b'{"symbol": "\xff\xfe"}'), 400),
    ("POST", ANALYZE, raw(b"[" * 20_000 + b"]" * 20_000), 400),
    ("POST", ANALYZE, raw(b'{"symbol": ' + b"9" * 5000 + b"}"), 400),
    # --- analyze-symbol: odd symbols -> 400 before any cache key or log line
    ("POST", ANALYZE, js({"symbol": "BTC USDT"}), 400),
    ("POST", ANALYZE, js({"symbol": "BTC\nUSDT"}), 400),
    ("POST", ANALYZE, js({"symbol": "BTC\x00USDT"}), 400),
    ("POST", ANALYZE, js({"symbol": "BTC\x1b[2JUSDT"}), 400),
    ("POST", ANALYZE, js({"symbol": "БТКUSDT"}), 400),
    ("POST", ANALYZE, js({"symbol": "BTC\u202eUSDT"}), 400),
    ("POST", ANALYZE, js({"symbol": "🚀USDT"}), 400),
    ("POST", ANALYZE, js({"symbol": "hama:analysis:*"}), 400),
    ("POST", ANALYZE, js({"symbol": "../../etc/passwd"}), 400),
    ("POST", ANALYZE, js({"symbol": "::"}), 400),
    ("POST", ANALYZE, js({"symbol": "X"}), 400),
    ("POST", ANALYZE, js({"symbol": "A" * 40}), 400),
    ("POST", ANALYZE, js({"symbol": "   "}), 400),
    # --- analyze-symbol: not JSON -> 415
    ("POST", ANALYZE, raw(b'{"symbol": "BTCUSDT"}', "text/plain"), 415),
    ("POST", ANALYZE, raw(b"symbol=BTCUSDT", "application/x-www-form-urlencoded"), 415),
    ("POST", ANALYZE, raw(b'{"symbol": "BTCUSDT"}', None), 415),
    ("POST", ANALYZE, raw(b"<symbol>BTCUSDT</symbol>", "application/xml"), 415),
    # --- scheduler/start: intervals and symbol lists
    ("POST", START, js({"interval_minutes": 0}), 422),
    ("POST", START, js({"interval_minutes": -5}), 422),
    ("POST", START, js({"interval_minutes": 0.5}), 422),
    ("POST", START, js({"interval_minutes": 1e12}), 422),
    ("POST", START, js({"interval_minutes": "5"}), 422),
    ("POST", START, js({"interval_minutes": True}), 422),
    ("POST", START, raw(b'{"interval_minutes": NaN}'), 422),
    ("POST", START, raw(b'{"interval_minutes": Infinity}'), 422),
    ("POST", START, raw(b'{"interval_minutes": 1e999}'), 422),
    ("POST", START, js({"symbols": []}), 400),
    ("POST", START, js({"symbols": "BTCUSDT"}), 422),
    ("POST", START, js({"symbols": [1, 2]}), 422),
    ("POST", START, js({"symbols": [None]}), 422),
    ("POST", START, js({"symbols": ["BTCUSDT"] * 1001}), 422),
    ("POST", START, js({"symbols": ["A" * 41]}), 422),
    ("POST", START, js({"symbols": ["BTC USDT"]}), 400),
    ("POST", START, js({"symbols": ["BTCUSDT", "NOSUCHUSDT"]}), 404),
    ("POST", START, js({"symbols": ["BTCUSDT"], "extra": True}), 422),
    ("POST", START, raw(b"interval_minutes=5", "application/x-www-form-urlencoded"), 415),
    # --- refresh (task submission)
    ("POST", REFRESH, js({"symbols": []}), 400),
    ("POST", REFRESH, js({"symbols": ["bad symbol"]}), 400),
    ("POST", REFRESH, js({"symbols": "BTCUSDT"}), 422),
    ("POST", REFRESH, js({"symbols": ["BTCUSDT"] * 1001}), 422),
    ("POST", REFRESH, js({"operation": "funding.refresh"}), 422),
    ("POST", REFRESH, raw(b"{", "application/json"), 422),
    ("POST", REFRESH, raw(b"{}", "text/plain"), 415),
    # --- read endpoints: query parameters
    ("GET", f"{API}/signals?recommendation=MAYBE", {}, 422),
    ("GET", f"{API}/signals?min_confidence=-1", {}, 422),
    ("GET", f"{API}/signals?min_confidence=2", {}, 422),
    ("GET", f"{API}/signals?min_confidence=nan", {}, 422),
    ("GET", f"{API}/signals?min_confidence=abc", {}, 422),
    ("GET", "/api/tasks?status=done", {}, 422),
    ("GET", "/api/tasks?limit=0", {}, 422),
    ("GET", "/api/tasks?limit=1001", {}, 422),
    ("GET", "/api/tasks?limit=" + "9" * 400, {}, 422),
    ("GET", "/api/tasks?include_result=perhaps", {}, 422),
    # --- task ids from the path: malformed or unknown is simply not found
    ("GET", "/api/tasks/nope", {}, 404),
    ("GET", "/api/tasks/" + "x" * 5000, {}, 404),
    ("GET", "/api/tasks/a%00b%0Ac", {}, 404),
    ("GET", "/api/tasks/%E2%80%AEevil", {}, 404),
    ("GET", "/api/tasks/hama_refresh-" + "0" * 32, {}, 404),
    ("DELETE", "/api/tasks/nope", {"headers": AUTH}, 404),
    ("DELETE", "/api/tasks/" + "x" * 5000, {"headers": AUTH}, 404),
    # --- funding monitor: its own envelope
    ("GET", "/funding_monitor/latest-rates-async?fast_mode=maybe", {"headers": AUTH}, 422),
    ("GET", "/funding_monitor/latest-rates-async?cache_only=2", {"headers": AUTH}, 422),
    ("GET", "/funding_monitor/arbitrage?sort_by=profit", {}, 422),
    ("GET", "/funding_monitor/arbitrage?limit=0", {}, 422),
    ("GET", "/funding_monitor/arbitrage?min_spread_apr=-1", {}, 422),
    ("GET", "/funding_monitor/arbitrage?min_spread_apr=inf", {}, 422),
    ("GET", "/funding_monitor/latest-rates?fast_mode=%00", {}, 422),
    # --- methods and paths
    ("PUT", ANALYZE, js({"symbol": "BTCUSDT"}), 405),
    ("GET", ANALYZE, {}, 405),
    ("PATCH", "/api/tasks/nope", {}, 405),
    ("DELETE", "/funding_monitor/latest-rates", {}, 405),
    ("POST", "/health", {}, 405),
    ("GET", "/api/nope", {}, 404),
    ("GET", "/funding_monitor/" + "%0A" * 50 + FLOOD, {}, 404),
]


def check_error(r: httpx.Response, status: int) -> str:
    """The status, the envelope of the area, a short printable message; returns it."""
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text[:300])
    assert "Traceback" not in r.text and 'File "' not in r.text
    body = r.json()
    if r.request.url.path.startswith("/funding_monitor"):
        assert set(body) == {"status", "message", "timestamp"}, body
        assert body["status"] == "error"
        msg = body["message"]
    else:
        assert set(body) == {"code", "msg", "data"}, body
        assert body["code"] == 0 and body["data"] is None
        msg = body["msg"]
    assert isinstance(msg, str) and 0 < len(msg) <= 400, msg
    assert msg.isprintable(), msg
    assert LONG[:200] not in msg and FLOOD not in msg
    return msg


def snapshot(client: httpx.Client) -> dict[str, Any]:
    """What bad input must never change (request counters excluded: a 404 is a miss)."""
    stats = client.get(f"{API}/cache-stats").json()["data"]
    for counter in ("hits", "misses", "hit_rate"):
        stats.pop(counter)
    status = client.get(f"{API}/scheduler/status").json()["data"]
    return {
        "cache": stats,
        "tasks": client.get("/api/tasks", params={"include_result": True}).json()["data"],
        "scheduler": {k: status[k] for k in ("running", "symbols", "interval_minutes", "runs")},
    }


@pytest.fixture
def hostile_client(app_client: AppFactory) -> Iterator[httpx.Client]:
    with app_client(REDIS_ENABLED=False, API_KEY=KEY, SUBMIT_BURST=1000) as client:
        warm = client.post(ANALYZE, json={"symbol": "BTCUSDT"})
        assert warm.status_code == 200
        yield client


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture perpwatch's and uvicorn's records even if logging was configured to not
    propagate them (``perpwatch serve`` does)."""
    loggers = [logging.getLogger(n) for n in ("perpwatch", "uvicorn", "uvicorn.error")]
    for lg in loggers:
        lg.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="perpwatch")
    try:
        yield caplog
    finally:
        for lg in loggers:
            lg.removeHandler(caplog.handler)


def test_every_nasty_input_gets_a_clear_4xx_and_changes_nothing(
    hostile_client: httpx.Client, all_logs: pytest.LogCaptureFixture
) -> None:
    client = hostile_client
    before = snapshot(client)
    for method, path, kwargs, status in CASES:
        check_error(client.request(method, path, **kwargs), status)
    assert snapshot(client) == before
    assert client.get("/health").status_code == 200  # still serving
    server_records = [r for r in all_logs.records if r.name.startswith(SERVER_LOGGERS)]
    for record in server_records:
        line = record.getMessage()
        assert LONG[:200] not in line and FLOOD not in line, line
        assert "\x1b" not in line and "\u202e" not in line, line


def test_messages_say_what_is_wrong(hostile_client: httpx.Client) -> None:
    client = hostile_client
    msg = check_error(client.post(ANALYZE, **js({"symbol": "BTC USDT"})), 400)
    assert "A-Z, 0-9 and the separators / : - _" in msg
    msg = check_error(client.post(ANALYZE, **raw(b'{"symbol":')), 422)
    assert "JSON" in msg
    msg = check_error(client.post(ANALYZE, **raw(b"{}", "text/plain")), 415)
    assert "application/json" in msg
    msg = check_error(client.post(START, **js({"interval_minutes": 0})), 422)
    assert "interval_minutes" in msg and "greater than or equal to 1" in msg
    msg = check_error(client.post(START, **js({"symbols": ["BTCUSDT"] * 1001})), 422)
    assert "symbols" in msg and "1000" in msg
    r = client.put(ANALYZE)
    msg = check_error(r, 405)
    assert r.headers["allow"] == "POST" and "POST" in msg
    r = client.patch("/api/tasks/x")
    check_error(r, 405)
    assert r.headers["allow"] == "DELETE, GET, HEAD"  # every method of the path
    msg = check_error(client.post(ANALYZE, **js({"symbol": "BTCUSDT", FLOOD + "\n": 1})), 422)
    assert "Extra inputs are not permitted" in msg and "\n" not in msg


def test_oversized_bodies_are_refused_with_413(hostile_client: httpx.Client) -> None:
    client = hostile_client
    before = snapshot(client)
    one_mb = b'{"symbol": "' + b"A" * (1 << 20) + b'"}'
    for path in (ANALYZE, START, REFRESH):
        msg = check_error(client.post(path, **raw(one_mb)), 413)
        assert "65536" in msg

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"symbols": ['
        for _ in range(200):
            yield b'"BTCUSDT", ' * 100

    r = client.post(START, content=chunks(), headers=JSON)
    assert "content-length" not in r.request.headers
    check_error(r, 413)
    # a huge body on an endpoint without one, and on the funding area
    check_error(client.request("GET", f"{API}/cache-stats", content=one_mb), 413)
    check_error(client.request("GET", "/funding_monitor/latest-rates", content=one_mb), 413)
    assert snapshot(client) == before
    # the limit is the setting, and a body just under it is processed
    ok = client.post(ANALYZE, **raw(b'{"symbol": "BTCUSDT"}' + b" " * 60_000))
    assert ok.status_code == 200


def test_body_limit_is_a_setting(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False, MAX_BODY_BYTES=1024) as client:
        r = client.post(ANALYZE, **raw(b'{"symbol": "BTCUSDT"}' + b" " * 1100))
        assert check_error(r, 413) == "request body too large: the limit is 1024 bytes"


def test_task_status_never_echoes_junk(hostile_client: httpx.Client) -> None:
    r = hostile_client.get("/funding_monitor/task-status/" + "%0A%1B" * 10 + "x" * 500)
    assert r.status_code == 200
    body = r.json()
    assert body["task_status"] == {"status": "not_found"}
    assert len(body["task_id"]) <= 101 and body["task_id"].isprintable()


def test_clip_makes_client_strings_safe_to_log() -> None:
    assert clip("BTCUSDT") == "BTCUSDT"
    assert clip("a\nb\rc\x00d\x1b[0m\u202ee\u2028") == "a?b?c?d?[0m?e?"
    assert clip("x" * 500) == "x" * 100 + "…"
    assert clip(12345, 3) == "123…"
