"""``deploy/prometheus/``: promtool accepts the rules and the scrape config, every rule has
what an alert needs, and every metric a rule names is one that a real ``/metrics``
exports (so a renamed metric cannot leave an alert that never fires)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from perpwatch.api.app import create_app
from tests.api.conftest import API, sim_settings
from tests.support.http_server import serve_app
from tests.support.prom import Scrape, scrape

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
RULES = DEPLOY / "rules.yml"
CONFIG = DEPLOY / "prometheus.yml"
METRIC = re.compile(r"\bperpwatch_[a-z_]+")
# the alerts, by the metric each one watches
ALERTED = {
    "perpwatch_signal_age_seconds", "perpwatch_exchange_breaker_open",
    "perpwatch_cache_redis_up", "perpwatch_scheduler_is_leader",
    "perpwatch_funding_checks_total",
}  # fmt: skip


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe is not None, "promtool is missing: `make system-deps` installs it"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def exported_names(m: Scrape) -> set[str]:
    """Every series name the exposition has or would have: sample names, and each
    family's names (``_total`` of a counter, ``_bucket``/``_count``/``_sum`` of a
    histogram) for families without samples yet."""
    names = {s.name for s in m.samples}
    for family, kind in m.types.items():
        names.add(family)
        if kind == "counter":
            names.add(f"{family}_total")
        elif kind == "histogram":
            names.update(f"{family}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
    return names


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_accepts_the_scrape_config() -> None:
    result = promtool("check", "config", str(CONFIG))  # reads rules.yml too: offline
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_is_a_complete_alert() -> None:
    watched: set[str] = set()
    for rule in rules():
        name = rule.get("alert")
        assert isinstance(name, str) and name.startswith("Perpwatch"), rule
        assert {"alert", "expr", "for", "labels", "annotations"} <= rule.keys(), name
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        watched.update(METRIC.findall(rule["expr"]))
    assert watched >= ALERTED


def test_every_metric_in_a_rule_is_exported(redis_url: str) -> None:
    app = create_app(sim_settings(REDIS_URL=redis_url, SYMBOLS="BTCUSDT"))
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"})
        assert r.status_code == 200, r.text
        m = scrape(client)
    exported = exported_names(m)
    for rule in rules():
        for name in METRIC.findall(rule["expr"]):
            assert name in exported, f"{rule['alert']}: {name} is not exported"
            if "increase(" in rule["expr"] and name.endswith("_total"):
                assert m.types[name.removesuffix("_total")] == "counter", name
    # and the check can fail: a misspelt name is caught
    assert "perpwatch_signal_age" not in exported
