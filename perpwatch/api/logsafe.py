"""Client strings, made safe to echo in a log line or an error message.

Anything a client sent (a path, a field name, an id) is shown at most ``limit`` characters
long, with control and formatting characters (newlines, ANSI escapes, bidi overrides)
replaced by ``?``, so it can neither forge log lines nor flood them.
"""

from __future__ import annotations

import unicodedata

ECHO_LIMIT = 100
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clip(text: object, limit: int = ECHO_LIMIT) -> str:
    """``text`` as a short, printable, single-line string."""
    s = text if isinstance(text, str) else str(text)
    if len(s) > limit:
        s = s[:limit] + "…"
    return "".join("?" if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in s)
