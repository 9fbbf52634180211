"""``perpwatch serve`` refuses a non-loopback bind without API_KEY (unless told otherwise)."""

from __future__ import annotations

import pytest

from perpwatch.api.bind import bind_refusal, check_bind, is_loopback
from perpwatch.cli import main
from perpwatch.errors import ConfigError
from perpwatch.settings import load_settings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("192.168.1.10", False),
        ("desk-server.internal", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_bind_refusal() -> None:
    assert bind_refusal("127.0.0.1", api_key_set=False, allow_insecure=False) is None
    assert bind_refusal("0.0.0.0", api_key_set=True, allow_insecure=False) is None
    assert bind_refusal("0.0.0.0", api_key_set=False, allow_insecure=True) is None
    why = bind_refusal("0.0.0.0", api_key_set=False, allow_insecure=False)
    assert why is not None and "\n" not in why
    assert "API_KEY" in why and "ALLOW_INSECURE_BIND=true" in why and "127.0.0.1" in why


def test_check_bind_reads_the_settings() -> None:
    check_bind(load_settings(MARKET="sim"))  # the default host is loopback
    with pytest.raises(ConfigError, match=r"refusing to bind '0\.0\.0\.0' without API_KEY"):
        check_bind(load_settings(MARKET="sim", HOST="0.0.0.0"))
    check_bind(load_settings(MARKET="sim", HOST="0.0.0.0", API_KEY="k" * 16))
    check_bind(load_settings(MARKET="sim", HOST="0.0.0.0", ALLOW_INSECURE_BIND=True))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("API_KEY", "ALLOW_INSECURE_BIND", "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MARKET", "sim")


@pytest.mark.usefixtures("clean_env")
def test_serve_refuses_with_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--host", "0.0.0.0", "--port", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("perpwatch: refusing to bind '0.0.0.0' without API_KEY")
