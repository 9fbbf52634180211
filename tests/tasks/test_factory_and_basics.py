"""Settings, the factory, ids, the registry and submit-time checks."""

from __future__ import annotations

import pytest

from perpwatch.errors import ConfigError, InvalidInput
from perpwatch.settings import load_settings
from perpwatch.tasks.base import TaskManager, is_valid_task_id, new_task_id
from perpwatch.tasks.execution import dedup_key, prepare
from perpwatch.tasks.factory import build_task_manager
from perpwatch.tasks.fallback import FallbackTaskManager
from perpwatch.tasks.inprocess import InProcessTaskManager
from tests.tasks.conftest import SAQ_WARNINGS
from tests.tasks.ops import build_registry, echo

TASK_ENV = (
    "TASK_BACKEND",
    "TASK_MAX_WORKERS",
    "TASK_RESULT_TTL",
    "TASK_TIMEOUT",
    "TASK_LOCAL_WORKER",
    "TASK_SHUTDOWN_GRACE",
    "REDIS_ENABLED",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]  # no stray .env
    for name in TASK_ENV:
        monkeypatch.delenv(name, raising=False)


def test_task_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert (s.task_backend, s.task_max_workers, s.task_result_ttl) == ("inprocess", 4, 3600)
    assert (s.task_timeout, s.task_local_worker, s.task_shutdown_grace) == (300, True, 10)
    monkeypatch.setenv("TASK_BACKEND", " SAQ ")
    monkeypatch.setenv("TASK_LOCAL_WORKER", "false")
    monkeypatch.setenv("TASK_RESULT_TTL", "120")
    s = load_settings()
    assert (s.task_backend, s.task_local_worker, s.task_result_ttl) == ("saq", False, 120)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TASK_BACKEND", "celery"),
        ("TASK_MAX_WORKERS", "0"),
        ("TASK_MAX_WORKERS", "257"),
        ("TASK_RESULT_TTL", "0"),
        ("TASK_RESULT_TTL", str(7 * 86400 + 1)),
        ("TASK_TIMEOUT", "86401"),
        ("TASK_SHUTDOWN_GRACE", "-1"),
    ],
)
def test_task_settings_bounds(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_factory_inprocess_by_default() -> None:
    m = build_task_manager(load_settings(), registry=build_registry(), ctx=None)
    assert isinstance(m, InProcessTaskManager) and isinstance(m, TaskManager)


@SAQ_WARNINGS
def test_factory_saq_with_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASK_BACKEND", "saq")
    m = build_task_manager(load_settings(), registry=build_registry(), ctx=None)
    assert isinstance(m, FallbackTaskManager) and isinstance(m, TaskManager)
    assert m.stats()["primary"]["backend"] == "saq"
    assert m.stats()["local"]["backend"] == "inprocess"
    monkeypatch.setenv("REDIS_ENABLED", "false")
    with pytest.raises(ConfigError, match="TASK_BACKEND"):
        build_task_manager(load_settings(), registry=build_registry(), ctx=None)


def test_ids() -> None:
    ids = {new_task_id("refresh rates/all") for _ in range(10_000)}
    assert len(ids) == 10_000
    sample = next(iter(ids))
    assert sample.startswith("refresh_rates_all-") and is_valid_task_id(sample)
    assert new_task_id("x", prefix="local-").startswith("local-x-")
    for bad in ("", "a b", "a/b", "x" * 101, "é", None, 5):
        assert not is_valid_task_id(bad)


def test_registry() -> None:
    reg = build_registry()
    with pytest.raises(InvalidInput, match="unknown operation"):
        reg.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("echo", echo)
    with pytest.raises(ValueError, match="invalid operation name"):
        reg.register("bad name", echo)
    with pytest.raises(ValueError, match="timeout"):
        reg.register("neg", echo, timeout_s=-1)
    assert "echo" in reg and len(reg) == len(reg.names())


def test_dedup_key_is_canonical() -> None:
    assert dedup_key("op", {"a": 1, "b": [1, 2]}) == dedup_key("op", {"b": [1, 2], "a": 1})
    assert dedup_key("op", {"a": 1}) != dedup_key("op", {"a": 2})
    assert dedup_key("op", {"a": 1}) != dedup_key("other", {"a": 1})


def test_prepare_checks_and_normalises() -> None:
    reg = build_registry()
    sub = prepare(reg, "echo", {"t": (1, 2)}, timeout_s=None, default_timeout_s=30)
    assert sub.params == {"t": [1, 2]} and sub.timeout_s == 30 and sub.dedup_key
    assert (
        prepare(
            reg, "quick_timeout", {"seconds": 1}, timeout_s=None, default_timeout_s=30
        ).timeout_s
        == 0.3
    )
    for params in ([1], {"x": float("nan")}, {"x": "y" * 70_000}):
        with pytest.raises(InvalidInput):
            prepare(reg, "echo", params, timeout_s=None, default_timeout_s=30)  # type: ignore[arg-type]
    for timeout in (0, -1, float("inf"), 8 * 86400):
        with pytest.raises(InvalidInput):
            prepare(reg, "echo", {}, timeout_s=timeout, default_timeout_s=30)
