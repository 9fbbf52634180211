"""The dashboard in a real headless Chromium against a real perpwatch (sim market, Redis).

Each check reads what the page shows and compares it with what perpwatch serves or holds
in Redis, so a page that rendered the wrong rows, or none, fails.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import redis
from playwright.sync_api import Page

from tests.browser.conftest import API_KEY, Server, Watched

API = "/api/gainer-analysis"
ROWS = "#signals-body tr"


def live(page: Page, timeout_ms: float = 15000) -> None:
    page.wait_for_selector("#conn[data-state=live]", timeout=timeout_ms)


def shown_symbols(page: Page) -> list[str]:
    out: list[str] = page.eval_on_selector_all(ROWS, "rows => rows.map(r => r.dataset.symbol)")
    return out


def column(page: Page, key: str) -> list[str]:
    """The text of column ``key`` in every shown row, top to bottom."""
    index = page.eval_on_selector_all(
        "#signals-head th", f"ths => ths.findIndex(t => t.dataset.key === {json.dumps(key)})"
    )
    assert index >= 0, key
    texts: list[str] = page.eval_on_selector_all(
        ROWS, f"rows => rows.map(r => r.children[{index}].textContent)"
    )
    return texts


def cached(server: Server, timeframe: str | None = None) -> dict[str, dict[str, Any]]:
    """Every analysis of ``timeframe`` (None: the primary) in the server's Redis, by
    symbol: what the page must agree with."""
    r = redis.Redis.from_url(server.redis_url)
    try:
        keys = [k.decode() for k in r.scan_iter("hama:analysis:*")]
        if timeframe is None:
            keys = [k for k in keys if k.count(":") == 2]
        else:
            keys = [k for k in keys if k.endswith(f":{timeframe}")]
        values = r.mget(keys)
        docs = {k.split(":")[2]: json.loads(v) for k, v in zip(keys, values, strict=True) if v}
    finally:
        r.close()
    return docs


def all_rows_shown(page: Page, server: Server) -> list[str]:
    watched = server.status()["symbols"]
    page.wait_for_function(f"() => document.querySelectorAll('{ROWS}').length === {len(watched)}")
    return list(watched)


def test_the_table_shows_every_watched_symbol(server: Server, open_page: Any) -> None:
    w: Watched = open_page(server.base + "/")
    live(w.page)
    watched = all_rows_shown(w.page, server)
    assert sorted(shown_symbols(w.page)) == sorted(watched)
    docs = cached(server)
    recs = dict(zip(shown_symbols(w.page), column(w.page, "rec"), strict=True))
    assert recs == {s: docs[s]["hama_analysis"]["recommendation"] for s in watched}
    # default order: confidence, highest first
    conf = [float(t.rstrip("%")) for t in column(w.page, "confidence")]
    assert conf == sorted(conf, reverse=True)
    assert "125 of 125 symbols" in w.page.inner_text("#signals-count")


def test_sorting_by_columns(server: Server, open_page: Any) -> None:
    w: Watched = open_page(server.base + "/")
    live(w.page)
    all_rows_shown(w.page, server)
    page = w.page
    page.click("#signals-head th[data-key=symbol] button")
    assert shown_symbols(page) == sorted(shown_symbols(page))
    assert "sort=symbol&dir=asc" in page.url
    page.click("#signals-head th[data-key=symbol] button")
    assert shown_symbols(page) == sorted(shown_symbols(page), reverse=True)
    page.click("#signals-head th[data-key=rsi] button")
    rsi = [float(t) for t in column(page, "rsi")]
    assert rsi == sorted(rsi, reverse=True) and len(set(rsi)) > 10
    page.click("#signals-head th[data-key=rsi] button")
    rsi = [float(t) for t in column(page, "rsi")]
    assert rsi == sorted(rsi)


def test_filters_work_and_live_in_the_url(server: Server, open_page: Any) -> None:
    w: Watched = open_page(server.base + "/")
    page = w.page
    live(page)
    all_rows_shown(page, server)
    docs = cached(server)
    page.select_option("#f-rec", "SELL")
    want = {s for s, d in docs.items() if d["hama_analysis"]["recommendation"] == "SELL"}
    assert want and set(shown_symbols(page)) == want
    page.fill("#f-minconf", "80")
    want = {s for s in want if docs[s]["hama_analysis"]["confidence"] * 100 >= 80}
    assert set(shown_symbols(page)) == want
    assert "rec=SELL" in page.url and "minconf=80" in page.url
    page.select_option("#f-rec", "")
    page.fill("#f-minconf", "")
    page.select_option("#f-criteria", "buy")
    want = {s for s, d in docs.items() if d["conditions"]["meets_buy_criteria"]}
    assert set(shown_symbols(page)) == want
    page.select_option("#f-criteria", "")
    page.fill("#f-q", "btc")
    assert shown_symbols(page) == ["BTCUSDT"]
    # a bookmarked view comes back as it was
    page.goto(server.base + "/?rec=BUY&minconf=60&sort=symbol&dir=asc")
    live(page)
    page.wait_for_function(f"() => document.querySelectorAll('{ROWS}').length > 0")
    want = sorted(
        s
        for s, d in cached(server).items()
        if d["hama_analysis"]["recommendation"] == "BUY" and d["hama_analysis"]["confidence"] >= 0.6
    )
    assert shown_symbols(page) == want
    assert page.input_value("#f-rec") == "BUY" and page.input_value("#f-minconf") == "60"


def test_a_forced_refresh_updates_its_row_without_a_reload(server: Server, open_page: Any) -> None:
    w: Watched = open_page(server.base + "/")
    page = w.page
    live(page)
    all_rows_shown(page, server)
    row = f"{ROWS}[data-symbol=ETHUSDT]"
    before = page.get_attribute(row, "data-computed")
    page.evaluate("window.__sameDocument = true")
    r = httpx.post(
        server.base + f"{API}/analyze-symbol",
        json={"symbol": "ETHUSDT", "force_refresh": True},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    new = str(r.json()["data"]["timestamp_ms"])
    assert new != before
    page.wait_for_selector(f"{row}[data-computed='{new}']", timeout=10000)
    assert page.evaluate("window.__sameDocument") is True  # no reload
    assert "flash" in (page.get_attribute(row, "class") or "")


def test_the_symbol_view_draws_a_chart_and_the_analysis(server: Server, open_page: Any) -> None:
    w: Watched = open_page(server.base + "/symbol/BTCUSDT")
    page = w.page
    live(page)
    page.wait_for_selector("#chart[data-bars='300']", timeout=15000)
    page.wait_for_timeout(300)  # a frame for the canvases
    painted = page.evaluate(
        """() => [...document.querySelectorAll('#chart canvas')].map(c => {
             if (!c.width || !c.height) return 0;
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             const colours = new Set();
             for (let i = 0; i < d.length; i += 4 * 97) {
               colours.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
             }
             return colours.size;
           })"""
    )
    assert max(painted) > 20, painted  # many colours: candles and lines, not a blank canvas
    doc = cached(server)["BTCUSDT"]
    assert page.inner_text("#sym-summary") == doc["conditions"]["summary"]
    assert page.inner_text("#sym-rec") == doc["hama_analysis"]["recommendation"]
    breakdown = page.inner_text("#sym-breakdown")
    for part in doc["hama_analysis"]["confidence_breakdown"]:
        assert part.replace("_", " ") in breakdown
    page.wait_for_selector("#sym-funding tbody tr")
    assert page.inner_text("#sym-funding tbody tr td") == "sim"


def test_the_funding_view_lists_every_contract(server: Server, open_page: Any) -> None:
    w: Watched = open_page(server.base + "/funding")
    page = w.page
    live(page)
    rates = httpx.get(server.base + "/funding_monitor/latest-rates", timeout=10).json()
    expected = set(rates["contracts"])
    page.wait_for_function(
        f"() => document.querySelectorAll('#funding-body tr').length === {len(expected)}"
    )
    shown = set(
        page.eval_on_selector_all("#funding-body tr", "rs => rs.map(r => r.dataset.symbol)")
    )
    assert shown == expected
    apr = page.eval_on_selector_all(
        "#funding-body tr", "rs => rs.map(r => r.children[4].textContent)"
    )
    values = [float(a.rstrip("%")) for a in apr]
    assert values == sorted(values, reverse=True)  # by APR, highest first
    assert re.search(r"\d+ contracts · sim fetched \d+s ago", page.inner_text("#funding-count"))
    # one exchange: no arbitrage, and the page says why
    assert page.is_visible("#arb-empty")


def test_text_from_the_cache_is_never_markup(server: Server, open_page: Any) -> None:
    """A summary holding HTML (as a hostile or broken upstream could send) is shown as
    text: no element is created from it and no script runs."""
    r = redis.Redis.from_url(server.redis_url)
    try:
        key = "hama:analysis:SOLUSDT"
        doc = json.loads(r.get(key) or b"{}")
        hostile = '<img src=x onerror="window.__xss=1"><b id=injected>x</b>'
        doc["conditions"]["summary"] = hostile
        r.set(key, json.dumps(doc), ex=300)
    finally:
        r.close()
    w: Watched = open_page(server.base + "/symbol/SOLUSDT")
    page = w.page
    live(page)
    page.wait_for_function("() => document.getElementById('sym-summary').textContent.length > 0")
    assert page.inner_text("#sym-summary") == hostile
    assert page.query_selector("#injected") is None
    assert page.evaluate("window.__xss") is None


def test_a_phone_sized_screen_shows_the_table(server: Server, open_page: Any) -> None:
    w: Watched = open_page(server.base + "/", width=390, height=844)
    live(w.page)
    all_rows_shown(w.page, server)
    # the system panel goes under the table instead of squeezing it
    table = w.page.locator("#signals").bounding_box()
    panel = w.page.locator("#system").bounding_box()
    assert table is not None and panel is not None
    assert panel["y"] > table["y"]
    width = w.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1  # wide tables scroll inside their box, not the page


def test_stopping_the_server_turns_the_indicator_red_and_a_restart_recovers(
    own_server: Server, open_page: Any
) -> None:
    w: Watched = open_page(own_server.base + "/", expect_errors=True)
    page = w.page
    live(page)
    all_rows_shown(page, own_server)
    own_server.stop()
    page.wait_for_selector("#conn[data-state=down]", timeout=10000)
    assert "disconnected" in page.inner_text("#conn")
    assert "conn-down" in (page.get_attribute("#conn", "class") or "")
    own_server.start()
    live(page, 20000)
    all_rows_shown(page, own_server)
    # and the stream is live again: a refresh still reaches the row
    r = httpx.post(
        own_server.base + f"{API}/analyze-symbol",
        json={"symbol": "BTCUSDT", "force_refresh": True},
        timeout=30,
    )
    new = str(r.json()["data"]["timestamp_ms"])
    page.wait_for_selector(f"{ROWS}[data-symbol=BTCUSDT][data-computed='{new}']", timeout=10000)
    # the only errors: the browser's own, for connections refused while the server was down
    unexpected = [e for e in w.errors if "ERR_CONNECTION_REFUSED" not in e and "WebSocket" not in e]
    assert not unexpected, unexpected


def test_read_only_until_a_key_is_entered_then_it_controls_the_scheduler(
    keyed_server: Server, open_page: Any
) -> None:
    w: Watched = open_page(keyed_server.base + "/", expect_errors=True)
    page = w.page
    live(page)
    assert not page.is_visible("#controls")  # read-only without a key
    assert page.evaluate("sessionStorage.length") == 0
    page.fill("#key-input", "wrong-key")
    page.click("#key-button")
    # the page reloads with the key; the stream refuses a wrong one at the handshake...
    page.wait_for_selector("#conn[data-state=down]", timeout=10000)
    assert "is the API key right?" in page.inner_text("#conn")
    page.wait_for_selector("#controls", state="visible")
    page.click("#btn-stop")  # ...and so does the API: nothing changes
    page.wait_for_function("() => document.getElementById('control-note').textContent.length > 0")
    assert "refused (401)" in page.inner_text("#control-note")
    assert keyed_server.status()["running"] is True
    page.click("#key-button")  # lock: the key is forgotten
    page.wait_for_selector("#key-input", state="visible")
    assert page.evaluate("sessionStorage.length") == 0
    page.fill("#key-input", API_KEY)
    page.click("#key-button")
    page.wait_for_selector("#controls", state="visible")
    assert page.evaluate("Object.values(sessionStorage)") == [API_KEY]
    live(page)
    page.click("#btn-stop")
    page.wait_for_function(
        "() => document.getElementById('control-note').textContent.includes('stop')"
    )
    assert keyed_server.status()["running"] is False
    page.click("#btn-start")
    page.wait_for_function(
        "() => document.getElementById('control-note').textContent.includes('start')"
    )
    assert keyed_server.status()["running"] is True
    # the only console errors: the refused handshakes of the wrong key, and its 401
    unexpected = [e for e in w.errors if "WebSocket" not in e and "401" not in e]
    assert not unexpected, unexpected


def test_the_table_shows_another_timeframe(server: Server, open_page: Any) -> None:
    w: Watched = open_page(server.base + "/?tf=4h")
    page = w.page
    live(page)
    watched = all_rows_shown(page, server)
    assert page.input_value("#f-tf") == "4h"
    docs = cached(server, "4h")
    shown = dict(zip(shown_symbols(page), column(page, "rec"), strict=True))
    assert shown == {s: docs[s]["hama_analysis"]["recommendation"] for s in watched}
    page.select_option("#f-tf", "")  # the primary
    assert "tf=" not in page.url
    primary = cached(server)
    shown = dict(zip(shown_symbols(page), column(page, "rec"), strict=True))
    assert shown == {s: primary[s]["hama_analysis"]["recommendation"] for s in watched}


def test_the_timeframes_grid_shows_the_servers_matrix(server: Server, open_page: Any) -> None:
    matrix = httpx.get(server.base + f"{API}/matrix", timeout=10).json()["data"]
    w: Watched = open_page(server.base + "/matrix")
    page = w.page
    live(page)
    page.wait_for_function(
        f"() => document.querySelectorAll('#mx-body tr').length === {matrix['count']}"
    )
    heads = page.eval_on_selector_all("#mx-head th", "ths => ths.map(t => t.textContent)")
    assert heads == ["Symbol", "15m (primary)", "1h", "4h", "Alignment"]
    rows = page.eval_on_selector_all(
        "#mx-body tr",
        "rs => rs.map(r => [r.dataset.symbol, r.dataset.alignment,"
        " [...r.querySelectorAll('td[data-tf]')].map(c => c.textContent)])",
    )
    by_symbol = {row["symbol"]: row for row in matrix["rows"]}
    for symbol, shown_alignment, cells in rows:
        want = by_symbol[symbol]
        assert float(shown_alignment) == want["alignment"]
        recs = [c.split()[0] for c in cells]
        assert recs == [want["timeframes"][tf]["recommendation"] for tf in ("15m", "1h", "4h")]
    aligned = [float(a) for _s, a, _c in rows]
    assert aligned == sorted(aligned, reverse=True)  # BUY-aligned first
    page.fill("#mx-min", "0.9")
    page.wait_for_function("() => location.search.includes('min=0.9')")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#mx-body tr')]"
        ".every(r => Math.abs(+r.dataset.alignment) >= 0.9)"
    )
    kept = page.eval_on_selector_all("#mx-body tr", "rs => rs.length")
    want_kept = sum(1 for r in matrix["rows"] if r["alignment"] is not None
                    and abs(r["alignment"]) >= 0.9)  # fmt: skip
    assert kept == want_kept


def test_the_symbol_view_switches_timeframe(server: Server, open_page: Any) -> None:
    w: Watched = open_page(server.base + "/symbol/ETHUSDT")
    page = w.page
    live(page)
    page.wait_for_selector("#sym-tfs button[data-tf='1h']")
    page.click("#sym-tfs button[data-tf='1h']")
    assert page.url.endswith("/symbol/ETHUSDT?tf=1h")
    doc = cached(server, "1h")["ETHUSDT"]
    page.wait_for_function(
        "(want) => document.getElementById('sym-summary').textContent === want",
        arg=doc["conditions"]["summary"],
    )
    assert "· 1h ·" in page.inner_text("#sym-conf")
    page.wait_for_selector("#chart[data-bars='300']")
