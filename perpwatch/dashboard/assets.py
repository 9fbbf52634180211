"""The dashboard's files, read once from ``static/`` into memory, each with its content
type and an ETag; and the security headers every dashboard response carries."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"

# Only perpwatch's own origin: scripts, styles, images, and fetch/WebSocket ('self'
# covers ws:/wss: to the same host in CSP Level 3); no inline script or style, no frames.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    # the vendored library changes only with a release; the page's own files must show
    # a new version at once, so they are revalidated (cheap: a 304 on the ETag)
    vendored = "vendor" in path.relative_to(STATIC_DIR).parts
    cache = "public, max-age=86400" if vendored else "no-cache"
    return Asset(body, _TYPES[path.suffix], etag, cache)


@functools.cache
def assets() -> dict[str, Asset]:
    """Every servable file by its path under ``/static/`` (only the known types)."""
    return {
        p.relative_to(STATIC_DIR).as_posix(): _asset(p)
        for p in sorted(STATIC_DIR.rglob("*"))
        if p.is_file() and p.suffix in _TYPES
    }


def page() -> Asset:
    """The one HTML page of every view (the script picks the view from the path)."""
    return assets()["index.html"]
