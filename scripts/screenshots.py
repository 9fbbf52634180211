"""Screenshots of the dashboard's three views for the README: docs/img/*.png.

Starts the exchange emulator (Binance, Bybit and OKX formats) and ``perpwatch serve`` as
``make serve`` runs it (embedded Redis, one worker child), but on the emulator through
ccxt with funding from all three exchanges, so the arbitrage view has rows, and with
``HAMA_TIMEFRAMES=15m,1h,4h``. Then opens each view in Debian's headless Chromium
(perpwatch.testing.browser) and saves it.

    python scripts/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from perpwatch.testing.browser import launch
from perpwatch.testing.processes import PerpwatchProcess

VIEWS = (
    ("signals.png", "/", 1440, 900),
    ("symbol.png", "/symbol/BTCUSDT", 1440, 1000),
    ("funding.png", "/funding", 1440, 900),
    ("timeframes.png", "/matrix", 1440, 900),
    ("phone.png", "/", 390, 844),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(url: str, ready: Callable[[dict[str, Any]], bool], timeout_s: float = 120) -> None:
    """Poll ``url`` until ``ready`` holds for its JSON answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if ready(httpx.get(url, timeout=5).json()):
                return
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url}: not ready within {timeout_s}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    emu_port, port = free_port(), free_port()
    emu = f"http://127.0.0.1:{emu_port}"
    base = f"http://127.0.0.1:{port}"
    env = {
        "MARKET": "binanceusdm",
        "EXCHANGE_API_URL": emu,
        "FUNDING_EXCHANGES": "binanceusdm,bybit,okx",
        "HAMA_TIMEFRAMES": "15m,1h,4h",
        "EMBEDDED_REDIS": "true",
        "SERVE_WORKERS": "1",
        "LOG_LEVEL": "WARNING",
    }
    with (
        PerpwatchProcess(["emulator", "--port", str(emu_port), "--symbols", "160"]) as e,
        PerpwatchProcess(["serve", "--port", str(port)], env=env) as serve,
    ):
        e.wait_http(f"{emu}/fapi/v1/ping")
        serve.wait_http(f"{base}/health/ready", timeout_s=120)
        wait_until(
            f"{base}/api/gainer-analysis/scheduler/status",
            lambda r: (
                r["data"]["last_run"] is not None
                and all(t["last_run"] for t in r["data"]["timeframes"])
            ),
        )
        wait_until(f"{base}/funding_monitor/arbitrage", lambda r: r["count"] > 0)
        with sync_playwright() as p:
            browser = launch(p)
            for name, path, width, height in VIEWS:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(base + path)
                page.wait_for_selector("#conn[data-state=live]", timeout=20000)
                time.sleep(3)  # the chart's data and a status poll
                page.screenshot(path=str(args.out / name))
                page.close()
                print(f"wrote {args.out / name}")
            browser.close()


if __name__ == "__main__":
    main()
