"""The dashboard's alerts view in a real headless Chromium against a real perpwatch: its
rows are the server's history (``GET /api/alerts/history``), with the delivery state a real
loopback webhook receiver caused, and its buttons reach the server with the key."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from tests.alerts.helpers import webhook
from tests.browser.conftest import API_KEY, Server, Watched, start_server, wait_for
from tests.support.alert_events import change_event, publish
from tests.support.receivers import WebhookReceiver

AUTH = {"Authorization": f"Bearer {API_KEY}"}
HOSTILE = '<img src=x onerror="window.__xss=1"><b id=injected>rule</b>'


@pytest.fixture(scope="module")
def alert_server() -> Iterator[Server]:
    yield from start_server(
        API_KEY=API_KEY, ALERT_ALLOW_PRIVATE_URLS="true", ALERT_BACKOFF_BASE_SECONDS="0.5"
    )


def add_rule(server: Server, url: str, symbol: str, name: str) -> str:
    body = {"kind": "signal_change", "name": name, "symbols": [symbol], "channel": webhook(url)}
    r = httpx.post(f"{server.base}/api/alerts/rules", json=body, headers=AUTH, timeout=10)
    assert r.status_code == 201, r.text
    rule_id: str = r.json()["data"]["id"]
    return rule_id


def history(server: Server) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.base}/api/alerts/history?limit=200", timeout=10)
    r.raise_for_status()
    alerts: list[dict[str, Any]] = r.json()["data"]["alerts"]
    return alerts


def settled(alerts: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The history once one alert is delivered and the other failed."""
    return alerts if {a["state"] for a in alerts} == {"delivered", "failed"} else None


def shown(page: Page) -> dict[str, dict[str, str]]:
    """Each shown alert row by id: its state and its cells' text by column heading."""
    rows: list[dict[str, Any]] = page.eval_on_selector_all(
        "#al-body tr",
        """rows => {
             const heads = [...document.querySelectorAll('#alerts thead th')];
             return rows.map(r => ({id: r.dataset.id, cells: Object.fromEntries(
               [...r.children].map((td, i) => [heads[i].textContent, td.textContent]))}));
           }""",
    )
    return {r["id"]: r["cells"] for r in rows}


def test_the_alerts_view_shows_the_history_and_its_delivery(
    alert_server: Server, open_page: Any
) -> None:
    with WebhookReceiver() as ok_receiver, WebhookReceiver() as refusing:
        refusing.behaviour.status = 400  # a 4xx other than 429: failed, not retried
        ok_rule = add_rule(alert_server, ok_receiver.url, "BTCUSDT", HOSTILE)
        bad_rule = add_rule(alert_server, refusing.url, "ETHUSDT", "eth to a refusing hook")
        events = [change_event("BTCUSDT", "BUY", "HOLD"), change_event("ETHUSDT", "SELL", "HOLD")]
        # in a thread: Playwright's sync API keeps an event loop running on this one
        with ThreadPoolExecutor(1) as pool:
            pool.submit(publish, alert_server.redis_url, events).result(timeout=30)
        ok_receiver.wait_for(1, timeout_s=20)
        refusing.wait_for(1, timeout_s=20, accepted_only=False)
        served = wait_for(
            lambda: settled(history(alert_server)), 20, "no delivered and failed alert"
        )
        by_rule = {a["rule_id"]: a for a in served}

        w: Watched = open_page(alert_server.base + "/alerts")
        page = w.page
        page.wait_for_selector("#al-body tr")
        rows = shown(page)
        assert {a["id"] for a in served} <= set(rows)  # the server's history, all of it
        good = rows[by_rule[ok_rule]["id"]]
        assert good["State"] == "delivered"
        assert good["Symbol"] == "BTCUSDT"
        assert good["Rule"] == HOSTILE  # the rule's name, as text
        assert good["Attempts"] == str(by_rule[ok_rule]["attempts"]) == "1"
        assert good["Alert"] == by_rule[ok_rule]["payload"]["title"]
        bad = rows[by_rule[bad_rule]["id"]]
        assert bad["State"] == "failed"
        assert bad["Last answer"] == by_rule[bad_rule]["last_error"]
        assert "400" in bad["Last answer"]
        assert page.query_selector("#injected") is None
        assert page.evaluate("window.__xss") is None
        assert "1 delivered" in page.inner_text("#al-count")
        # the rules, secrets never shown
        rules_text = page.inner_text("#al-rules-body")
        assert "eth to a refusing hook" in rules_text and "ETHUSDT" in rules_text
        assert webhook("")["secret"] not in page.content()
        # read-only without the key: no buttons
        assert page.query_selector("#al-rules-body button") is None

        # the state filter, kept in the URL
        page.select_option("#al-state", "failed")
        assert list(shown(page)) == [by_rule[bad_rule]["id"]]
        assert page.url.endswith("/alerts?state=failed")
        page.reload()
        page.wait_for_selector("#al-body tr")
        assert list(shown(page)) == [by_rule[bad_rule]["id"]]


def test_with_the_key_the_view_sends_a_test_and_deletes_a_rule(
    alert_server: Server, open_page: Any
) -> None:
    with WebhookReceiver() as receiver:
        rule_id = add_rule(alert_server, receiver.url, "SOLUSDT", "sol rule")
        w: Watched = open_page(alert_server.base + "/alerts")
        page = w.page
        page.fill("#key-input", API_KEY)
        page.click("#key-button")  # the page reloads with the key
        row = f"#al-rules-body tr[data-id={rule_id}]"
        page.wait_for_selector(f"{row} button")
        page.click(f"{row} button:has-text('Send test')")
        receiver.wait_for(1, timeout_s=10)
        sent = receiver.accepted()[0].json()
        assert sent["test"] is True and sent["rule_id"] == rule_id
        page.wait_for_function("() => document.getElementById('al-note').textContent.length > 0")
        assert page.inner_text("#al-note").startswith("delivered")
        page.once("dialog", lambda d: d.accept())
        page.click(f"{row} button:has-text('Delete')")
        page.wait_for_selector(row, state="detached")
        r = httpx.get(f"{alert_server.base}/api/alerts/rules/{rule_id}", timeout=10)
        assert r.status_code == 404
