import pytest

from perpwatch.errors import ConfigError
from perpwatch.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (
        "REDIS_ENABLED",
        "REDIS_URL",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_PASSWORD",
        "SYMBOLS",
        "MARKET",
        "HAMA_SCHEDULER_INTERVAL",
        "HAMA_CACHE_TTL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_those_of_the_existing_deployment() -> None:
    s = load_settings()
    assert s.redis_enabled is True
    assert s.hama_scheduler_interval == 5
    assert s.hama_cache_ttl == 300
    assert s.symbols_limit == 125
    assert s.hama_timeframe == "15m"
    assert (s.host, s.port) == ("127.0.0.1", 5000)
    assert s.market == "binanceusdm"
    assert s.redis_dsn == "redis://127.0.0.1:6379/0"


def test_seed_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_ENABLED", "false")
    monkeypatch.setenv("REDIS_HOST", "cache.local")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_DB", "2")
    monkeypatch.setenv("REDIS_PASSWORD", "s3cret")
    monkeypatch.setenv("HAMA_SCHEDULER_INTERVAL", "10")
    monkeypatch.setenv("HAMA_CACHE_TTL", "600")
    monkeypatch.setenv("SYMBOLS", "btcusdt, ETH/USDT:USDT,BTCUSDT")
    s = load_settings()
    assert s.redis_enabled is False
    assert s.redis_dsn == "redis://:s3cret@cache.local:6380/2"
    assert s.scheduler_interval_s == 600
    assert s.hama_cache_ttl == 600
    assert s.symbols == ["BTCUSDT", "ETHUSDT"]


def test_redis_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://10.0.0.5:7000/3")
    assert load_settings().redis_dsn == "redis://10.0.0.5:7000/3"


def test_dotenv_is_read(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import pathlib

    pathlib.Path(".env").write_text("MARKET=sim\nHAMA_CACHE_TTL=120\n")
    s = load_settings()
    assert (s.market, s.hama_cache_ttl) == ("sim", 120)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HAMA_SCHEDULER_INTERVAL", "0"),
        ("HAMA_SCHEDULER_INTERVAL", "abc"),
        ("HAMA_CACHE_TTL", "-5"),
        ("MARKET", "nasdaq"),
        ("HAMA_TIMEFRAME", "7m"),
        ("REDIS_PORT", "99999"),
        ("SYMBOLS", "BTC USDT"),
        ("EXCHANGE_API_URL", "ftp://x"),
        ("HAMA_MA_TYPE", "HMA"),
        ("HAMA_MA_LENGTH", "900"),
    ],
)
def test_invalid_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    msg = str(err.value)
    assert "\n" not in msg
    if name != "HAMA_MA_LENGTH":
        assert name in msg
    else:
        assert "HISTORY_CANDLES" in msg
