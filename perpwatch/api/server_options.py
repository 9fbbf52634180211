"""How uvicorn serves the API, the same under ``perpwatch serve`` and in tests and benches."""

from __future__ import annotations

from typing import Any, Final

API_SERVER_OPTIONS: Final[dict[str, Any]] = {
    "access_log": False,
    # push frames go to many clients: compressing each one for each client costs far more
    # CPU than it saves bandwidth (a proxy may compress), and uncompressed frames are built
    # once and written as they are (perpwatch.api.ws_frames)
    "ws_per_message_deflate": False,
}
