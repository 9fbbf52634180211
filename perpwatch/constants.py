"""Redis key names, in one place. Existing users read these with ``redis-cli``."""

from __future__ import annotations

HAMA_ANALYSIS_PREFIX = "hama:analysis:"
FUNDING_PREFIX = "funding:"
TASK_PREFIX = "perpwatch:task:"


def hama_analysis_key(symbol: str, timeframe: str | None = None) -> str:
    """``hama:analysis:BTCUSDT`` for the primary timeframe (``timeframe`` None), and
    ``hama:analysis:BTCUSDT:1h`` for another one. ``symbol`` must already be canonical."""
    if timeframe is None:
        return f"{HAMA_ANALYSIS_PREFIX}{symbol}"
    return f"{HAMA_ANALYSIS_PREFIX}{symbol}:{timeframe}"


FUNDING_ARBITRAGE_KEY = f"{FUNDING_PREFIX}arbitrage"  # the arbitrage view pushed last (JSON)


def series_key(timeframe: str, symbol: str, bars: int, last_open_ms: int) -> str:
    """``hama:series:15m:BTCUSDT:300:<last candle open>`` -- chart arrays, until a new candle."""
    return f"hama:series:{timeframe}:{symbol}:{bars}:{last_open_ms}"


def funding_rates_key(exchange: str) -> str:
    """``funding:rates:binanceusdm`` -- one exchange's whole funding table."""
    return f"{FUNDING_PREFIX}rates:{exchange}"


# --- coordination of processes sharing one Redis (or one Redis Cluster) ----------------
# Each is a single key, so none needs a hash tag on a cluster.
SCHEDULER_LEASE_KEY = "hama:scheduler:lease"  # owner id of the one live scheduler
SCHEDULER_STATE_KEY = "hama:scheduler:state"  # the schedule, shared across leaders (JSON)
SCHEDULER_CONTROL_KEY = "hama:scheduler:control"  # start/stop asked for through the API
SYMBOL_UNIVERSE_KEY = "hama:symbols:listed"  # every listed perpetual (JSON list)
PROCESSES_KEY = "hama:processes"  # hash: process id -> heartbeat record (JSON)
SHARD_STREAM_KEY = "hama:shards"  # stream of shard jobs, one consumer group of workers
REFRESH_ERRORS_KEY = "hama:refresh_errors"  # hash: symbol -> last failed refresh (JSON)
CANDLES_PREFIX = "hama:candles:"


def cycle_claim_key(timeframe: str, start_ms: int) -> str:
    """``hama:cycle:15m:1795577400000`` -- taken with ``SET NX`` by the one process that
    runs that cycle, so a cycle never runs twice."""
    return f"hama:cycle:{timeframe}:{start_ms}"


def cycle_board_key(cycle_id: str) -> str:
    """``hama:cycle:15m:1795577400000:shards`` -- hash: the state of each shard."""
    return f"hama:cycle:{cycle_id}:shards"


def candles_key(timeframe: str, symbol: str) -> str:
    """``hama:candles:15m:BTCUSDT`` -- a symbol's candle history, so any worker can
    extend it incrementally (binary; not for redis-cli)."""
    return f"{CANDLES_PREFIX}{timeframe}:{symbol}"


# --- alerts (perpwatch/alerts/) ---------------------------------------------------------
ALERT_RULES_KEY = "hama:alerts:rules"  # hash: rule id -> rule (JSON, secrets included)
# counter: raised after every change of the rules (evaluators read the rules again then)
ALERT_RULES_GENERATION_KEY = "hama:alerts:rules:generation"
# every key of the outbox shares the hash tag {outbox}, so its Lua scripts run on one
# node of a Redis Cluster
ALERT_OUTBOX_PREFIX = "hama:alerts:{outbox}:"
ALERT_DUE_KEY = f"{ALERT_OUTBOX_PREFIX}due"  # zset: alert id -> next attempt (ms)
ALERT_CLAIMED_KEY = f"{ALERT_OUTBOX_PREFIX}claimed"  # zset: alert id -> claim deadline (ms)
ALERT_OWNER_KEY = f"{ALERT_OUTBOX_PREFIX}owner"  # hash: alert id -> claiming sender
ALERT_RECORDS_KEY = f"{ALERT_OUTBOX_PREFIX}records"  # hash: alert id -> record (JSON)
ALERT_HISTORY_KEY = f"{ALERT_OUTBOX_PREFIX}history"  # list: alert ids, newest first


def alert_seen_key(alert_id: str) -> str:
    """``hama:alerts:{outbox}:seen:<id>`` -- set once (NX) when the alert is enqueued."""
    return f"{ALERT_OUTBOX_PREFIX}seen:{alert_id}"


def alert_cooldown_key(digest: str) -> str:
    """``hama:alerts:{outbox}:cooldown:<digest of rule, symbol, timeframe, change>``."""
    return f"{ALERT_OUTBOX_PREFIX}cooldown:{digest}"


def alert_position_key(channel: str) -> str:
    """``hama:alerts:pos:signals`` -- the last bus event of the channel evaluated."""
    return f"hama:alerts:pos:{channel}"


def funding_sign_key(exchange: str) -> str:
    """``hama:alerts:funding_sign:binanceusdm`` -- hash: symbol -> sign of its last rate."""
    return f"hama:alerts:funding_sign:{exchange}"
