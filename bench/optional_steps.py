"""Optional steps of ``bench/run_all.py``: long benches that run only when asked for.

``python bench/run_all.py --with scale-out,latency-while-computing`` (or
``BENCH_WITH=...``; ``all`` for every one) runs them. A step that is not run keeps its
section of the current docs/benchmarks.md as it was, with the date and machine of the run
that wrote it, so regenerating the file never drops figures nobody re-measured.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import alert_latency, latency_while_computing, push_fanout, scale_out, signal_lag

# name -> (heading prefix of its section, the run that returns the section)
STEPS: dict[str, tuple[str, Callable[[], str]]] = {
    "scale-out": (
        scale_out.HEADING,
        lambda: scale_out.section(
            scale_out.main([]),
            [
                scale_out.main(["--workers", "1,2", "--env", "WORKER_SHARD_SLOTS=4"]),
                scale_out.main(["--workers", "1", "--env", "REFRESH_CONCURRENCY=25"]),
            ],
        ),
    ),
    "latency-while-computing": (
        latency_while_computing.HEADING,
        lambda: latency_while_computing.section(latency_while_computing.main([])),
    ),
    "signal-lag": (signal_lag.HEADING, lambda: signal_lag.section(signal_lag.main([]))),
    "push-fanout": (push_fanout.HEADING, lambda: push_fanout.section(push_fanout.main([]))),
    "alert-latency": (
        alert_latency.HEADING,
        lambda: alert_latency.section(alert_latency.main([])),
    ),
}


def requested(argv: Sequence[str]) -> set[str]:
    """The steps named by ``--with a,b`` (or ``--with=a,b``) and ``BENCH_WITH``."""
    names: list[str] = os.environ.get("BENCH_WITH", "").split(",")
    args = list(argv)
    for i, a in enumerate(args):
        if a == "--with" and i + 1 < len(args):
            names += args[i + 1].split(",")
        elif a.startswith("--with="):
            names += a.removeprefix("--with=").split(",")
    chosen = {n.strip() for n in names if n.strip()}
    if "all" in chosen:
        return set(STEPS)
    unknown = chosen - set(STEPS)
    if unknown:
        raise SystemExit(f"unknown optional bench step(s): {', '.join(sorted(unknown))}")
    return chosen


def kept_section(text: str, heading: str) -> str | None:
    """The ``## {heading}...`` section of ``text``, up to the next ``## `` heading."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"## {heading}"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("## ")), None)
            return "\n".join(lines[i:end]).rstrip() + "\n"
    return None


def sections(argv: Sequence[str], previous: Path) -> str:
    """Every optional step's section: run now if requested, else kept from ``previous``."""
    chosen = requested(argv)
    old = previous.read_text() if previous.exists() else ""
    out: list[str] = []
    for name, (heading, run) in STEPS.items():
        if name in chosen:
            out.append(run().rstrip() + "\n")
            continue
        kept = kept_section(old, heading)
        out.append(
            kept
            if kept is not None
            else f"## {heading}\n\nNot measured yet: `python bench/run_all.py --with {name}`.\n"
        )
    return "\n".join(out)


def replace_section(path: Path, heading: str, section: str) -> None:
    """Write ``section`` over the ``## {heading}...`` section of ``path`` (appended if absent)."""
    text = path.read_text() if path.exists() else ""
    old = kept_section(text, heading)
    body = section.rstrip() + "\n"
    path.write_text(text.rstrip() + "\n\n" + body if old is None else text.replace(old, body, 1))
