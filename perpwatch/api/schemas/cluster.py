"""The ``coordination`` part of ``scheduler/status`` and ``/health``: the processes sharing
this Redis, or a single process without one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Coordination(BaseModel):
    """The processes sharing this Redis. ``error``: Redis did not answer, so the lease and
    the live processes are not known."""

    mode: str = Field(description="redis or redis cluster")
    process_id: str
    role: str
    is_leader: bool
    candidate: bool = Field(description="this process takes part in the leader election")
    leader: str | None = Field(default=None, description="process id holding the lease")
    lease_expires_in_s: float | None = None
    lease_seconds: float
    processes: list[dict[str, Any]] = Field(default_factory=list)
    workers: list[str] = Field(default_factory=list)
    error: str | None = None


class SingleProcess(BaseModel):
    """One process without Redis: it does everything."""

    mode: str = "single process (no Redis)"
    role: str = "all"
    is_leader: bool = True


CoordinationStatus = Coordination | SingleProcess
