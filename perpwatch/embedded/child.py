"""``python -m perpwatch.embedded.child``: a child of ``perpwatch serve`` that dies with it.

The supervisor stops its children in order on a normal exit. This module is for when it
cannot (SIGKILL, the OOM killer, a crash): no child may outlive it.

``exec --parent PID PROGRAM ARGS...`` (redis-server, which cannot watch anything itself):
on Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` asks the kernel to SIGTERM this process
when the thread that started it ends; the request survives ``exec``. The supervisor
starts Redis from the main thread, which lives as long as the process. If the parent died
before the ``prctl`` (the child now has another parent) the child exits at once.

``perpwatch --watch-fd FD [--grace S] [--log-tag T] ARGS...`` (a worker): runs
``perpwatch ARGS`` in this process while a thread blocks reading FD, the read end of a
pipe whose write end only the parent holds and nobody writes. End of file means the parent
process is gone, whichever of its threads started this one and on any OS. The worker is
then sent SIGTERM (it drains and stops), and ends hard if still running ``S`` s later.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_ORPHANED = 70  # what a child exits with when its parent is gone


def set_parent_death_signal(sig: int) -> bool:
    """Linux: have the kernel send ``sig`` to this process when its parent thread ends."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result: int = libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return result == 0


def watch_parent(fd: int, *, grace_s: float) -> threading.Thread:
    """Stop this process when the pipe ``fd`` reaches end of file (the parent is gone)."""

    def run() -> None:
        try:
            while os.read(fd, 64):  # nothing is ever written; b"" is end of file
                pass
        except OSError:
            pass  # an unreadable pipe: assume the worst
        sys.stderr.write(f"perpwatch child {os.getpid()}: the parent is gone; stopping\n")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(EXIT_ORPHANED)

    thread = threading.Thread(target=run, name="perpwatch-parent-watch", daemon=True)
    thread.start()
    return thread


def tag_log_records(tag: str) -> None:
    """Prefix every logger name with ``tag``, so the children's lines in the parent's
    terminal say which process wrote them; survives the ``dictConfig`` the command runs."""
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        record.name = f"{tag} {record.name}"
        return record

    logging.setLogRecordFactory(factory)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m perpwatch.embedded.child")
    sub = p.add_subparsers(dest="mode", required=True)
    ex = sub.add_parser("exec", help="exec PROGRAM, SIGTERMed when the parent ends (Linux)")
    ex.add_argument("--parent", type=int, required=True, help="pid of the expected parent")
    ex.add_argument("program", nargs=argparse.REMAINDER)
    pw = sub.add_parser("perpwatch", help="run a perpwatch command that watches a pipe")
    pw.add_argument("--watch-fd", type=int, required=True)
    pw.add_argument("--grace", type=float, default=20.0, help="seconds from SIGTERM to exit")
    pw.add_argument("--log-tag")
    pw.add_argument("args", nargs=argparse.REMAINDER)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.mode == "exec":
        if not args.program:
            sys.exit("exec: no program")
        if set_parent_death_signal(signal.SIGTERM) and os.getppid() != args.parent:
            sys.exit(EXIT_ORPHANED)  # the parent died before the prctl
        os.execv(args.program[0], args.program)  # noqa: S606 - the supervisor's own argv
    watch_parent(args.watch_fd, grace_s=args.grace)
    if args.log_tag:
        tag_log_records(args.log_tag)
    from perpwatch.cli import main as perpwatch_main

    perpwatch_main(args.args)


if __name__ == "__main__":
    main()
