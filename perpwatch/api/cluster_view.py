"""What ``scheduler/status`` and ``/health`` say about the processes sharing this Redis:
this process's role, which process leads, the lease's expiry and the live workers."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from perpwatch.api.schemas.cluster import Coordination, CoordinationStatus, SingleProcess
from perpwatch.constants import SCHEDULER_LEASE_KEY
from perpwatch.coordination.lease import lease_holder
from perpwatch.errors import CacheUnavailable
from perpwatch.runtime import Runtime
from perpwatch.scheduler.models import ScheduleStatus

logger = logging.getLogger(__name__)


async def coordination_status(runtime: Runtime) -> CoordinationStatus:
    cluster = runtime.cluster
    if cluster is None:
        return SingleProcess()
    out = Coordination(
        mode="redis cluster" if runtime.settings.redis_cluster else "redis",
        process_id=cluster.process_id,
        role=cluster.role,
        is_leader=cluster.is_leader,
        candidate=cluster.election is not None,
        lease_seconds=runtime.settings.scheduler_lease_s,
    )
    try:
        holder = await lease_holder(cluster.client, SCHEDULER_LEASE_KEY)
        live = await cluster.registry.live()
    except CacheUnavailable as e:
        out.error = str(e)
        return out
    if holder is not None:
        out.leader = holder.owner
        out.lease_expires_in_s = round(holder.expires_in_s, 3)
    out.processes = live
    out.workers = [p["id"] for p in live if "shards_done" in p]
    return out


async def shared_schedule_status(runtime: Runtime) -> ScheduleStatus | None:
    """The leader's published status, for a process that does not lead (``None``: this
    process leads, runs alone, or nothing readable was published yet)."""
    cluster = runtime.cluster
    if cluster is None or cluster.is_leader:
        return None
    try:
        state = await cluster.store.state()
    except CacheUnavailable as e:
        logger.debug("shared schedule unreadable: %s", e)
        return None
    status = state.get("status") if state else None
    if not isinstance(status, dict):
        return None
    try:
        return ScheduleStatus.model_validate(status)
    except ValidationError as e:
        logger.debug("shared schedule status not understood: %s", e)
        return None
