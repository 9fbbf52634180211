"""Events on Redis streams, one per channel: ``hama:push:{<channel>}``.

A Lua script publishes: it takes the channel's next sequence number from
``hama:push:{<channel>}:seq`` (so numbers are dense and monotonic across every publisher),
adds the entry with the stream ID ``<seq>-0`` (unless one of the last entries carries
the same publish token: a retried call that already got through), caps the stream at ``max_events``
(``MAXLEN ~``) and drops entries older than ``retention_s``. Both keys share a hash tag,
so the script runs on one node of a Redis Cluster. Readers ``XRANGE`` from a sequence
number (resume) and ``XREAD BLOCK`` for what comes next.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from perpwatch.errors import CacheUnavailable
from perpwatch.push.events import CHANNEL_OF, Channel, Event, EventType
from perpwatch.redis_client import REDIS_ERRORS, RedisClient

PUSH_PREFIX = "hama:push:"

_PUBLISH = """
local recent = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 16)
for _, entry in ipairs(recent) do
  local f = entry[2]
  for j = 1, #f, 2 do
    if f[j] == 'k' and f[j + 1] == ARGV[8] then  -- a retry of a publish that got through
      return tonumber(string.match(entry[1], '^(%d+)'))
    end
  end
end
local seq = redis.call('INCR', KEYS[2])
local top = recent
if #top > 0 then
  local top_seq = tonumber(string.match(top[1][1], '^(%d+)'))
  if top_seq >= seq then
    seq = top_seq + 1
    redis.call('SET', KEYS[2], seq)
  end
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], seq .. '-0',
           't', ARGV[3], 's', ARGV[4], 'f', ARGV[5], 'ts', ARGV[6], 'd', ARGV[7], 'k', ARGV[8])
local cutoff = tonumber(ARGV[6]) - tonumber(ARGV[2])
for _ = 1, 100 do
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if #first == 0 then break end
  local f, ts = first[1][2], nil
  for j = 1, #f, 2 do if f[j] == 'ts' then ts = tonumber(f[j + 1]) break end end
  if ts == nil or ts >= cutoff then break end
  redis.call('XDEL', KEYS[1], first[1][1])
end
return seq
"""


def stream_key(channel: Channel) -> str:
    return f"{PUSH_PREFIX}{{{channel}}}"


def seq_key(channel: Channel) -> str:
    return f"{PUSH_PREFIX}{{{channel}}}:seq"


def _event(channel: Channel, entry_id: bytes, fields: dict[bytes, bytes]) -> Event:
    seq = int(entry_id.split(b"-", 1)[0])
    type_: Any = fields[b"t"].decode()
    return Event(
        channel,
        seq,
        type_,
        fields[b"s"].decode() or None,
        fields[b"f"].decode() or None,
        int(fields[b"ts"]),
        fields[b"d"].decode(),
    )


class RedisBus:
    def __init__(
        self,
        client: RedisClient,
        *,
        max_events: int,
        retention_s: float,
        reader: RedisClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        # blocking reads take a client of their own, with a socket timeout above the block
        self._reader = reader or client
        self._max = max_events
        self._retention_ms = int(retention_s * 1000)
        self._clock = clock
        self._script = client.register_script(_PUBLISH)

    async def publish(
        self,
        type_: EventType,
        data: str,
        *,
        symbol: str | None = None,
        timeframe: str | None = None,
    ) -> Event:
        channel = CHANNEL_OF[type_]
        now_ms = int(self._clock() * 1000)
        # a token per publish: the client retries a command once on a fresh connection, and
        # a retry of a script that did run must not publish the event a second time
        token = secrets.token_hex(8)
        args = [self._max, self._retention_ms, type_, symbol or "", timeframe or "", now_ms,
                data, token]  # fmt: skip
        try:
            seq = await self._script(keys=[stream_key(channel), seq_key(channel)], args=args)
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"event not published: {e}") from e
        return Event(channel, int(seq), type_, symbol, timeframe, now_ms, data)

    async def last_seq(self, channel: Channel) -> int:
        try:
            raw = await self._client.get(seq_key(channel))
        except REDIS_ERRORS as e:
            raise CacheUnavailable(str(e)) from e
        return int(raw) if raw else 0

    async def after(self, channel: Channel, seq: int, *, limit: int) -> list[Event] | None:
        key = stream_key(channel)
        try:
            entries: Any = await self._client.xrange(key, min=f"{seq + 1}-0", count=limit)
            if entries and int(entries[0][0].split(b"-", 1)[0]) == seq + 1:
                return [_event(channel, i, f) for i, f in entries]
            last = await self.last_seq(channel)
        except REDIS_ERRORS as e:
            raise CacheUnavailable(str(e)) from e
        if seq == last:
            return []
        return None  # the events right after seq are gone, or seq is ahead of the bus

    async def wait(self, channel: Channel, seq: int, *, timeout_s: float) -> list[Event]:
        key = stream_key(channel)
        try:
            found: Any = await self._reader.xread(
                {key: f"{seq}-0"}, count=1000, block=max(1, int(timeout_s * 1000))
            )
        except REDIS_ERRORS as e:
            raise CacheUnavailable(str(e)) from e
        out: list[Event] = []
        for _stream, entries in found or []:
            out.extend(_event(channel, i, f) for i, f in entries)
        return out

    async def close(self) -> None:
        if self._reader is not self._client:
            await self._reader.aclose()
