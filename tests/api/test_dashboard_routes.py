"""The dashboard's routes over real HTTP: every page and file carries the same-origin CSP
and the other security headers; unknown files, odd paths and hostile symbols are 404s
that echo nothing back; ETags revalidate; nothing but GET and HEAD is accepted."""

from __future__ import annotations

import httpx
import pytest

from perpwatch.dashboard.assets import CONTENT_SECURITY_POLICY, assets
from tests.api.conftest import AppFactory

PAGES = ("/", "/funding", "/matrix", "/alerts", "/symbol/BTCUSDT", "/symbol/1000PEPEUSDT")


def test_pages_and_files_carry_the_csp(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        for path in PAGES:
            r = client.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"] == "text/html; charset=utf-8"
            assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert "<script" in r.text and "http" not in r.text.split("<body>")[0]
        names = set(assets())
        assert {"index.html", "app.js", "style.css"} <= names
        assert "vendor/lightweight-charts.standalone.production.js" in names
        for name in names:
            r = client.get(f"/static/{name}")
            assert r.status_code == 200, name
            assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert r.content == assets()[name].body


def test_the_csp_allows_only_the_own_origin() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    for name in ("default-src", "script-src", "style-src", "connect-src", "font-src"):
        assert directives[name] == "'self'", name
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


def test_pages_load_no_asset_from_elsewhere() -> None:
    page = assets()["index.html"].body.decode()
    for attr in ('src="', 'href="'):
        for part in page.split(attr)[1:]:
            url = part.split('"', 1)[0]
            assert url.startswith("/") or url == "https://www.tradingview.com/", url
    for name, asset in assets().items():
        if name.endswith(".js") and not name.startswith("vendor/"):
            text = asset.body.decode()
            assert "innerHTML" not in text and "insertAdjacentHTML" not in text, name
            assert "http://" not in text and "https://" not in text, name


def test_etags_revalidate_and_head_works(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        r = client.get("/static/app.js")
        etag = r.headers["etag"]
        assert r.headers["cache-control"] == "no-cache"
        again = client.get("/static/app.js", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        other = client.get("/static/app.js", headers={"If-None-Match": '"nope"'})
        assert other.status_code == 200 and other.content == r.content
        head = client.head("/")
        assert head.status_code == 200 and head.content == b""
        vendored = client.get("/static/vendor/lightweight-charts.standalone.production.js")
        assert "max-age=86400" in vendored.headers["cache-control"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.js",
        "/static/../settings.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/vendor/README.md",  # only the page's own kinds of file are served
        "/static/",
        "/static/app.js%00.png",
        "/symbol/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/symbol/" + "A" * 41,
        "/symbol/BTC%20USDT",
        "/symbolx",
    ],
)
def test_unknown_and_hostile_paths_are_404s_that_echo_nothing(
    app_client: AppFactory, path: str
) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        r = client.get(path)
        assert r.status_code == 404, (path, r.status_code, r.text)
        body = r.json()
        assert body["code"] == 0 and body["data"] is None
        # an error is JSON (never HTML a browser would render), and reveals no file
        assert r.headers["content-type"] == "application/json"
        assert "root:" not in r.text and "Traceback" not in r.text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get_and_head(app_client: AppFactory, method: str) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        for path in ("/", "/funding", "/static/app.js", "/symbol/BTCUSDT"):
            r = client.request(method, path, content=b"{}")
            assert r.status_code == 405, (method, path)
            assert r.json()["code"] == 0


def test_a_wrong_host_header_or_odd_query_changes_nothing(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        base = client.get("/").content
        for query in ("?sort=%3Cb%3E", "?rec=" + "x" * 5000, "?minconf=NaN&dir=sideways"):
            r = client.get("/" + query)
            assert r.status_code == 200 and r.content == base
        r = httpx.get(str(client.base_url) + "/", headers={"Host": "evil.example"})
        assert r.status_code == 200 and r.content == base
