"""What ``scheduler/status`` and ``/health`` say about the processes sharing this Redis:
this process's role, which process leads, the lease's expiry and the live workers."""

from __future__ import annotations

import logging
from typing import Any

from perpwatch.constants import SCHEDULER_LEASE_KEY
from perpwatch.coordination.lease import RedisLease
from perpwatch.errors import CacheUnavailable
from perpwatch.runtime import Runtime

logger = logging.getLogger(__name__)


async def coordination_status(runtime: Runtime) -> dict[str, Any]:
    cluster = runtime.cluster
    if cluster is None:
        return {"mode": "single process (no Redis)", "role": "all", "is_leader": True}
    out: dict[str, Any] = {
        "mode": "redis cluster" if runtime.settings.redis_cluster else "redis",
        "process_id": cluster.process_id,
        "role": cluster.role,
        "is_leader": cluster.is_leader,
        "candidate": cluster.election is not None,
        "leader": None,
        "lease_expires_in_s": None,
        "lease_seconds": runtime.settings.scheduler_lease_s,
        "processes": [],
        "workers": [],
        "error": None,
    }
    try:
        holder = await RedisLease(cluster.client, key=SCHEDULER_LEASE_KEY, owner="",
                                  ttl_s=1).holder()  # fmt: skip
        live = await cluster.registry.live()
    except CacheUnavailable as e:
        out["error"] = str(e)
        return out
    if holder is not None:
        out["leader"] = holder.owner
        out["lease_expires_in_s"] = round(holder.expires_in_s, 3)
    out["processes"] = live
    out["workers"] = [p["id"] for p in live if "shards_done" in p]
    return out


async def shared_schedule_status(runtime: Runtime) -> dict[str, Any] | None:
    """The leader's published status, for a process that does not lead (``None``: this
    process leads, runs alone, or nothing was published yet)."""
    cluster = runtime.cluster
    if cluster is None or cluster.is_leader:
        return None
    try:
        state = await cluster.store.state()
    except CacheUnavailable as e:
        logger.debug("shared schedule unreadable: %s", e)
        return None
    status = state.get("status") if state else None
    return status if isinstance(status, dict) else None
