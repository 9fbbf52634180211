"""Which code a bench measured: the commit, and whether the package had uncommitted changes."""

from __future__ import annotations

import subprocess

from bench.common import ROOT


def code_state() -> str:
    """``<short commit>`` or ``<short commit> + uncommitted changes in perpwatch/``."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = git("status", "--porcelain", "--", "perpwatch")
    return f"{commit} + uncommitted changes in perpwatch/" if dirty else commit
