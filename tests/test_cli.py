"""The console script, run as a user would (a real subprocess, simulated market)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

ENV = {**os.environ, "MARKET": "sim", "REDIS_ENABLED": "false", "SYMBOLS_LIMIT": "6"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perpwatch", *args],
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_analyze_json() -> None:
    r = run("analyze", "btcusdt", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["symbol"] == "BTCUSDT"
    assert doc["hama_analysis"]["recommendation"] in {"BUY", "SELL", "HOLD"}


def test_analyze_table_and_refresh_summary() -> None:
    table = run("analyze", "ETHUSDT")
    assert table.returncode == 0, table.stderr
    assert "recommendation" in table.stdout and "ETHUSDT" in table.stdout
    # every figure at a readable precision (at most 6 significant digits), none at the
    # full length of a float (2.1377650834770296 was printed once)
    numbers = re.findall(r"\d+\.\d+", table.stdout)
    too_long = [n for n in numbers if len(n.replace(".", "").lstrip("0")) > 6]
    assert numbers and too_long == [], too_long
    assert re.search(r"volume ratio\s+│?\s*\d+\.\d\dx", table.stdout), table.stdout
    refresh = run("refresh")
    assert refresh.returncode == 0, refresh.stderr
    assert "refresh summary" in refresh.stdout


def test_bad_input_and_bad_settings_are_one_clear_line() -> None:
    r = run("analyze", "NOSUCHUSDT")
    assert r.returncode == 1 and "unknown symbol" in r.stderr and "Traceback" not in r.stderr
    bad = run("analyze", "BTCUSDT", env={**ENV, "HAMA_CACHE_TTL": "-1"})
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert "HAMA_CACHE_TTL" in bad.stderr and "Traceback" not in bad.stderr


def test_trigger_funding_waits_for_the_task() -> None:
    from perpwatch.api.app import create_app
    from perpwatch.settings import load_settings
    from tests.support.http_server import serve_app

    key = "k" * 32
    settings = load_settings(
        MARKET="sim", REDIS_ENABLED=False, HAMA_SCHEDULER_AUTO_START=False, API_KEY=key
    )
    with serve_app(create_app(settings)) as url:
        ok = run("trigger", "funding", "--wait", "--url", url, env={**ENV, "API_KEY": key})
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "submitted task" in ok.stdout and "completed" in ok.stdout
        refused = run("trigger", "hama", "--url", url)  # no key
        assert refused.returncode == 1 and "401" in refused.stdout
