"""Where the machine's CPU went during a measurement: the bench's own processes, and the rest.

The benches run on a small machine (2 cores here) that other work may share. A figure
taken while something else used the cores is not the same figure, so the benches record,
for each measured interval, the CPU seconds of every process they started (with its
children: an embedded redis-server, a worker child) and the machine's total busy time;
the difference is what other processes used meanwhile. :func:`wait_for_quiet` waits, for
a bounded time, until the others leave the cores alone before a measurement starts.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import psutil


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (every core), since boot; the time the
    hypervisor stole is not counted (:func:`machine_steal_s`)."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0) - machine_steal_s(t))


def machine_steal_s(t: object | None = None) -> float:
    """CPU seconds a virtual machine's cores were given to other machines, since boot
    (Linux ``steal``; 0 where it is not reported)."""
    return float(getattr(t if t is not None else psutil.cpu_times(), "steal", 0.0))


def tree_cpu_s(
    proc: psutil.Process, seen: dict[int, psutil.Process], *, children: bool = True
) -> float:
    """CPU seconds of ``proc`` and (``children``) its descendants, remembered in ``seen``
    (one that has exited drops out: a small undercount)."""
    total = 0.0
    members = [proc]
    if children:
        with contextlib.suppress(psutil.Error):
            members += proc.children(recursive=True)
    for p in members:
        seen.setdefault(p.pid, p)
    for p in seen.values():
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


@dataclass
class CpuAccount:
    """CPU seconds of named process trees and of the whole machine, sampled on demand."""

    roots: dict[str, int]  # name -> pid
    _procs: dict[str, psutil.Process] = field(default_factory=dict)
    _seen: dict[str, dict[int, psutil.Process]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.roots = {"bench": psutil.Process().pid, **self.roots}
        for name, pid in self.roots.items():
            self._procs[name] = psutil.Process(pid)
            self._seen[name] = {}

    def sample(self) -> tuple[float, float, dict[str, float]]:
        """(epoch seconds, machine busy seconds, {name: CPU seconds})."""
        # the bench's own children are the other roots: counted there, not twice
        own = {
            n: tree_cpu_s(p, self._seen[n], children=n != "bench") for n, p in self._procs.items()
        }
        return time.time(), machine_busy_s(), own


def usage(
    a: tuple[float, float, dict[str, float]], b: tuple[float, float, dict[str, float]]
) -> dict[str, object]:
    """What was used between two samples: per process tree, ours together, the others."""
    wall = max(1e-9, b[0] - a[0])
    cores = psutil.cpu_count() or 1
    per = {n: round(b[2][n] - a[2].get(n, 0.0), 2) for n in b[2]}
    own = sum(per.values())
    busy = b[1] - a[1]
    return {
        "wall_s": round(wall, 2),
        "cpu_s": per,
        "ours_pct_of_machine": round(100 * own / (wall * cores), 1),
        "others_pct_of_machine": round(max(0.0, 100 * (busy - own) / (wall * cores)), 1),
    }


def wait_for_quiet(
    *, max_busy_pct: float = 15.0, window_s: float = 2.0, max_wait_s: float = 60.0
) -> dict[str, float]:
    """Wait until the machine is at most ``max_busy_pct`` busy over ``window_s`` (others'
    work), for ``max_wait_s`` at most; the busy share seen last and the time waited."""
    t0 = time.monotonic()
    cores = psutil.cpu_count() or 1
    while True:
        b0 = machine_busy_s()
        time.sleep(window_s)
        pct = 100 * (machine_busy_s() - b0) / (window_s * cores)
        waited = time.monotonic() - t0
        if pct <= max_busy_pct or waited >= max_wait_s:
            return {"busy_pct_before": round(pct, 1), "waited_s": round(waited, 1)}
