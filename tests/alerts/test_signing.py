"""The webhook signature, and the README's verification snippet run as written."""

from __future__ import annotations

import hashlib
import hmac
import re
import textwrap
from pathlib import Path

from perpwatch.alerts.signing import signature, verify

README = Path(__file__).resolve().parents[2] / "README.md"


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"id":"x"}'
    expected = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("k" * 16, 1700000000, body) == f"sha256={expected}"


def test_verify_rejects_tampering_wrong_key_and_old_timestamps() -> None:
    body = b'{"id":"x"}'
    sig = signature("k" * 16, 1000, body)
    assert verify("k" * 16, "1000", body, sig, now_s=1100)
    assert not verify("k" * 16, "1000", body + b" ", sig, now_s=1100)
    assert not verify("j" * 16, "1000", body, sig, now_s=1100)
    assert not verify("k" * 16, "1001", body, sig, now_s=1100)
    assert not verify("k" * 16, "1000", body, sig, now_s=1000 + 301)
    assert not verify("k" * 16, "soon", body, sig, now_s=1000)


def test_the_readme_snippet_verifies() -> None:
    text = README.read_text()
    block = re.search(r"```python\n( *# verify a perpwatch webhook.*?)```", text, re.S)
    assert block is not None, "README: the verification snippet is missing"
    scope: dict[str, object] = {}
    code = textwrap.dedent(block.group(1))
    assert len([line for line in code.splitlines() if not line.startswith("#")]) == 5
    exec(code, scope)
    check = scope["verify"]
    body = b'{"id":"abc"}'
    import time

    ts = str(int(time.time()))
    good = signature("k" * 16, int(ts), body)
    headers = {"X-Perpwatch-Timestamp": ts, "X-Perpwatch-Signature": good}
    assert check(b"k" * 16, headers, body) is True  # type: ignore[operator]
    headers["X-Perpwatch-Signature"] = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert check(b"k" * 16, headers, body) is False  # type: ignore[operator]
    old = str(int(time.time()) - 3600)
    headers = {
        "X-Perpwatch-Timestamp": old,
        "X-Perpwatch-Signature": signature("k" * 16, int(old), body),
    }
    assert check(b"k" * 16, headers, body) is False  # type: ignore[operator]
