"""Debian's Chromium, headless, driven through Playwright: for the dashboard's browser
tests and the screenshots script.

Playwright's own browser download is not used (nor reachable here): ``executable_path``
points at the system Chromium (``make system-deps`` installs Debian's ``chromium``). The
flags keep Chromium from calling home (background networking, component updates, sync),
so every request it makes is one the page made.
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Playwright

CHROMIUM_ENV = "PERPWATCH_CHROMIUM"
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",  # as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-default-browser-check",
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def chromium_path() -> str:
    """``$PERPWATCH_CHROMIUM``, else ``chromium`` on the PATH. RuntimeError if neither."""
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    if not path:
        raise RuntimeError(
            "no Chromium: install Debian's chromium (make system-deps) or set "
            f"{CHROMIUM_ENV} to a Chromium binary"
        )
    return path


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=chromium_path(), args=list(CHROMIUM_ARGS), headless=True
    )


def leaves_loopback(url: str) -> bool:
    """Whether a request to ``url`` would leave this machine (data: and blob: do not)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return False
    return parts.hostname not in LOOPBACK_HOSTS
