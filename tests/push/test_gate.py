"""Who may hold a push connection: the credential a client presents, and the limits."""

from __future__ import annotations

import hashlib

import pytest

from perpwatch.push.gate import Gate, Refusal, credential

KEY = "s3cret-key"
DIGEST = hashlib.sha256(KEY.encode()).digest()


# --- credential ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "header"),
    [
        (KEY, None),
        (None, f"Bearer {KEY}"),
        (None, f"bearer {KEY}"),
        (None, f"BEARER   {KEY}  "),
        (None, f"  Bearer {KEY}"),
        (None, KEY),  # the key itself as the header
        (KEY, "Bearer something-else"),  # ?token= first
    ],
)
def test_the_key(token: str | None, header: str | None) -> None:
    assert credential(DIGEST, token, header) == "key"


@pytest.mark.parametrize(
    ("token", "header"),
    [(None, None), ("", None), (None, ""), (None, "   "), (None, "Bearer"), (None, "Bearer  ")],
)
def test_nothing_presented_is_anonymous(token: str | None, header: str | None) -> None:
    assert credential(DIGEST, token, header) == "anonymous"
    assert credential(None, token, header) == "open"  # no key set: everything is open


@pytest.mark.parametrize(
    ("token", "header"),
    [
        ("s3cret-kex", None),
        (KEY.upper(), None),
        (KEY + " ", None),
        (None, f"Bearer {KEY}x"),
        (None, f"Basic {KEY}"),  # another scheme: the whole header is compared
        (None, f"Token {KEY}"),
        ("wrong", f"Bearer {KEY}"),  # ?token= decides, even when the header is right
        ("\ud800", None),  # a lone surrogate (from a %-decoded query) does not crash
    ],
)
def test_something_else_is_wrong(token: str | None, header: str | None) -> None:
    assert credential(DIGEST, token, header) == "wrong"


def test_credentials_are_ignored_when_no_key_is_set() -> None:
    """As in REST: without API_KEY nothing is protected, so nothing sent can be wrong."""
    assert credential(None, KEY, None) == "open"
    assert credential(None, None, f"Bearer {KEY}") == "open"
    gate = Gate(max_anon_per_ip=1, max_connections=3)
    assert [gate.admit("10.0.0.1", "open") for _ in range(3)] == [None, None, None]
    refusal = gate.admit("10.0.0.1", "open")  # only the process-wide limit applies
    assert refusal is not None and refusal.status == 503


# --- Gate ----------------------------------------------------------------------------------


def test_anonymous_connections_are_limited_per_address() -> None:
    gate = Gate(max_anon_per_ip=2, max_connections=100)
    assert gate.admit("10.0.0.1", "anonymous") is None
    assert gate.admit("10.0.0.1", "anonymous") is None
    refusal = gate.admit("10.0.0.1", "anonymous")
    assert refusal == Refusal(429, "at most 2 connections per address without the API key")
    assert gate.admit("10.0.0.2", "anonymous") is None  # another address has its own
    assert gate.admit("10.0.0.1", "key") is None  # the key is not held to it
    assert gate.total == 4  # the refusal took no place


def test_leave_gives_the_place_back() -> None:
    gate = Gate(max_anon_per_ip=1, max_connections=100)
    assert gate.admit("10.0.0.1", "anonymous") is None
    assert gate.admit("10.0.0.1", "anonymous") is not None
    gate.leave("10.0.0.1", "anonymous")
    assert gate.total == 0
    assert gate.admit("10.0.0.1", "anonymous") is None
    assert gate.total == 1
    assert gate.admit("10.0.0.9", "key") is None
    gate.leave("10.0.0.9", "key")
    gate.leave("10.0.0.1", "anonymous")
    assert gate.total == 0
    assert not gate._anon  # no address is kept once its last connection left


def test_the_total_limit_holds_for_everyone() -> None:
    gate = Gate(max_anon_per_ip=100, max_connections=3)
    assert gate.admit("10.0.0.1", "key") is None
    assert gate.admit("10.0.0.2", "anonymous") is None
    assert gate.admit("10.0.0.3", "anonymous") is None
    busy = Refusal(503, "this process holds 3 push connections")
    assert gate.admit("10.0.0.4", "key") == busy
    assert gate.admit("10.0.0.4", "anonymous") == busy
    gate.leave("10.0.0.2", "anonymous")
    assert gate.admit("10.0.0.4", "anonymous") is None
    assert gate.total == 3


def test_a_wrong_key_is_refused_first() -> None:
    gate = Gate(max_anon_per_ip=0, max_connections=0)  # full, and no anonymous allowed
    assert gate.admit("10.0.0.1", "wrong") == Refusal(401, "wrong API key")
    assert gate.total == 0


def test_no_anonymous_connections_at_all() -> None:
    gate = Gate(max_anon_per_ip=0, max_connections=10)
    refusal = gate.admit("10.0.0.1", "anonymous")
    assert refusal is not None and refusal.status == 429
    assert gate.admit("10.0.0.1", "key") is None
