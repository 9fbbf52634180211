"""A cycle's shards: jobs on a Redis stream that any worker takes, and a board of their state.

* **Queue** (``hama:shards``, one consumer group ``workers``): the leader ``XADD``s one
  entry per shard. A worker takes one with ``XREADGROUP``; while it works on it, it
  touches the entry (``XCLAIM ... JUSTID`` resets the entry's idle time) every
  ``touch_s``. A worker that dies stops touching: once an entry has been idle for
  ``reclaim_after_s``, any live worker takes it over with ``XAUTOCLAIM`` and redoes it.
  Done entries are acknowledged and deleted, so the stream stays small.
* **Board** (``hama:cycle:<cycle id>:shards``, a hash): the leader writes the cycle's
  plan; each worker writes its shard's state -- queued, running, done or failed, by
  which worker, with counts and failures. The leader watches it to know when the cycle
  is complete; ``scheduler/status`` shows it.

Redoing a shard never writes a symbol twice in one cycle: every analysis carries the id
of the cycle that computed it, and a worker skips a symbol whose cached analysis already
has this cycle's id.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from redis.exceptions import ResponseError

from perpwatch.constants import SHARD_STREAM_KEY, cycle_board_key
from perpwatch.errors import CacheUnavailable
from perpwatch.redis_client import REDIS_ERRORS, RedisClient

logger = logging.getLogger(__name__)

GROUP = "workers"
STREAM_MAXLEN = 100_000
MAX_ATTEMPTS = 3  # a shard that failed this many times (its workers died) is given up
BOARD_FAILURES_KEPT = 20

# XCLAIM ... JUSTID resets the idle time, but it would also take an entry that another
# worker took over; so claim only while XPENDING still names this consumer (atomic).
_TOUCH = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if p[1] ~= nil and p[1][2] == ARGV[3] then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
  return 1
end
return 0
"""

ShardStatus = Literal["queued", "running", "done", "failed"]


@dataclass(frozen=True, slots=True)
class ShardJob:
    entry_id: str
    cycle_id: str
    timeframe: str
    index: int
    symbols: list[str]


@dataclass(slots=True)
class ShardState:
    state: ShardStatus
    symbols: int
    worker: str | None = None
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # already computed in this cycle (a redone shard)
    failures: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> ShardState:
        data: dict[str, Any] = json.loads(raw)
        return cls(**data)


def split(symbols: list[str], shard_size: int) -> list[list[str]]:
    """Consecutive shards of at most ``shard_size`` symbols (order kept)."""
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    return [symbols[i : i + shard_size] for i in range(0, len(symbols), shard_size)]


def _edge(what: str, e: BaseException) -> CacheUnavailable:
    return CacheUnavailable(f"shard queue {what}: {e or type(e).__name__}")


class ShardQueue:
    def __init__(self, client: RedisClient, *, board_ttl_s: float = 86400.0) -> None:
        self._client = client
        self._board_ttl_ms = max(1000, round(board_ttl_s * 1000))
        self._group_ready = False

    async def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._client.xgroup_create(SHARD_STREAM_KEY, GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise _edge("XGROUP CREATE", e) from e
        except REDIS_ERRORS as e:
            raise _edge("XGROUP CREATE", e) from e
        self._group_ready = True

    # --- leader side ---------------------------------------------------------------

    async def publish(
        self, *, cycle_id: str, timeframe: str, shards: list[list[str]], meta: dict[str, Any]
    ) -> None:
        """Write the cycle's board (every shard queued), then queue the shards."""
        await self.ensure_group()
        board = cycle_board_key(cycle_id)
        fields = {
            f"shard:{i}": ShardState("queued", len(s)).to_json() for i, s in enumerate(shards)
        }
        fields["meta"] = json.dumps({**meta, "shards": len(shards)}, separators=(",", ":"))
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hset(board, mapping=dict[Any, Any](fields))
                pipe.pexpire(board, self._board_ttl_ms)
                await pipe.execute()
            async with self._client.pipeline(transaction=False) as pipe:
                for i, syms in enumerate(shards):
                    entry: dict[Any, Any] = {
                        "cycle": cycle_id,
                        "tf": timeframe,
                        "index": str(i),
                        "symbols": ",".join(syms),
                    }
                    pipe.xadd(
                        SHARD_STREAM_KEY,
                        dict[Any, Any](entry),
                        maxlen=STREAM_MAXLEN,
                        approximate=True,
                    )
                await pipe.execute()
        except REDIS_ERRORS as e:
            raise _edge("publish", e) from e

    async def board(self, cycle_id: str) -> tuple[dict[str, Any] | None, dict[int, ShardState]]:
        """The cycle's plan and each shard's state (``None``, {} once the board expired)."""
        try:
            raw: dict[Any, Any] = await self._client.hgetall(cycle_board_key(cycle_id))
        except REDIS_ERRORS as e:
            raise _edge("board", e) from e
        meta: dict[str, Any] | None = None
        states: dict[int, ShardState] = {}
        for k, v in raw.items():
            name = k.decode()
            if name == "meta":
                meta = json.loads(v)
            elif name.startswith("shard:"):
                states[int(name[6:])] = ShardState.from_json(v)
        return meta, states

    # --- worker side ---------------------------------------------------------------

    async def take(self, consumer: str, *, block_ms: int) -> ShardJob | None:
        """The next new shard for ``consumer``, waiting up to ``block_ms``."""
        await self.ensure_group()
        try:
            answer: Any = await self._client.xreadgroup(
                GROUP, consumer, {SHARD_STREAM_KEY: ">"}, count=1, block=block_ms
            )
        except REDIS_ERRORS as e:
            raise _edge("XREADGROUP", e) from e
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                return self._job(entry_id, fields)
        return None

    async def reclaim(self, consumer: str, *, min_idle_ms: int, count: int = 1) -> list[ShardJob]:
        """Shards whose worker stopped touching them ``min_idle_ms`` ago, now ``consumer``'s."""
        await self.ensure_group()
        try:
            answer: Any = await self._client.xautoclaim(
                SHARD_STREAM_KEY, GROUP, consumer, min_idle_ms, start_id="0-0", count=count
            )
        except REDIS_ERRORS as e:
            raise _edge("XAUTOCLAIM", e) from e
        entries = answer[1] if answer else []
        return [self._job(eid, f) for eid, f in entries if f]

    async def touch(self, consumer: str, entry_id: str) -> bool:
        """Reset the entry's idle time: this worker is alive and still on it. ``False``
        when the entry is no longer this consumer's (another worker took it over)."""
        try:
            done = await self._client.eval(_TOUCH, 1, SHARD_STREAM_KEY, GROUP, entry_id, consumer)
        except REDIS_ERRORS as e:
            raise _edge("touch", e) from e
        return bool(done)

    async def finish(self, job: ShardJob) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.xack(SHARD_STREAM_KEY, GROUP, job.entry_id)
                pipe.xdel(SHARD_STREAM_KEY, job.entry_id)
                await pipe.execute()
        except REDIS_ERRORS as e:
            raise _edge("XACK", e) from e

    async def set_state(self, job: ShardJob, state: ShardState) -> bool:
        """Write the shard's state; ``False`` (and nothing written) once the board is gone."""
        board = cycle_board_key(job.cycle_id)
        try:
            if not await self._client.exists(board):
                return False
            await self._client.hset(board, f"shard:{job.index}", state.to_json())
        except REDIS_ERRORS as e:
            raise _edge("board write", e) from e
        return True

    async def state(self, job: ShardJob) -> ShardState | None:
        try:
            raw = await self._client.hget(cycle_board_key(job.cycle_id), f"shard:{job.index}")
        except REDIS_ERRORS as e:
            raise _edge("board read", e) from e
        return None if raw is None else ShardState.from_json(raw)

    @staticmethod
    def _job(entry_id: bytes | str, fields: dict[bytes, bytes]) -> ShardJob:
        f = {k.decode(): v.decode() for k, v in fields.items()}
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        return ShardJob(
            entry_id=eid,
            cycle_id=f["cycle"],
            timeframe=f["tf"],
            index=int(f["index"]),
            symbols=[s for s in f["symbols"].split(",") if s],
        )
