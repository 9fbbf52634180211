"""What ``/health`` says of an API process's push (its hub and its clients)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PushStatus(BaseModel):
    connections: int = Field(description="WebSocket and SSE clients of this process")
    direct: int = Field(
        description="of the WebSocket clients, those whose frames are written to the socket "
        "directly, a batch at a time (the others go through ASGI, a message at a time)"
    )
    queued: int = Field(description="events waiting to be sent, all clients together")
    peak_queued: int = Field(description="the longest queue a connected client has had")
    resets: int = Field(description="resets sent (a client fell behind, or events were lost)")
    slow_closed: int = Field(description="clients closed (1013) for not keeping up")
    events_read: int = Field(description="events this process has read from the bus")
    resyncs: int = Field(description="times the bus was unreadable or had a gap")
    reading: dict[str, bool] = Field(description="per channel: the bus answers")
    position: dict[str, int | None] = Field(description="per channel: the last seq read")
