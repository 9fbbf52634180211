"""``perpwatch watch``: live push events in the terminal (a rich table) or as JSON lines."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from rich import box
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from perpwatch.push.events import CHANNELS, Channel
from perpwatch.push.watch import Change, Received, WatchState, watch

COLOURS = {"BUY": "green", "SELL": "red", "HOLD": "yellow"}
UPDATED_S = 3.0  # a row updated this recently is marked
CHANGED_S = 10.0  # a row whose signal changed this recently is marked louder
FOOTER_CHANGES = 5
REFRESH_S = 0.5  # the table is drawn again at most this often (ages tick every second)


@dataclass(frozen=True)
class WatchOptions:
    url: str
    channels: tuple[Channel, ...]
    symbols: frozenset[str] | None
    timeframes: frozenset[str] | None
    token: str | None
    json: bool
    changes_only: bool
    exit_after: int | None = None  # stop after this many shown messages (tests)


def _rec(rec: str) -> Text:
    return Text(rec, style=COLOURS.get(rec, ""))


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _cross(direction: int) -> str:
    return {1: "up", -1: "down"}.get(direction, "none")


def change_line(c: Change) -> Text:
    """One signal change: time received, symbol, from -> to, what changed, confidence."""
    at = time.strftime("%H:%M:%S", time.localtime(c.received_at))
    line = Text.assemble(
        (at, "dim"), "  ", (c.symbol, "bold"), f" {c.timeframe}  ", _rec(c.from_), " → ", _rec(c.to)
    )
    if "cross" in c.changed:
        line.append(f"  cross {_cross(c.cross_from)} → {_cross(c.cross_to)}")
    line.append(f"  conf {c.confidence * 100:.0f}%  candle {c.candle_close_time}", style="dim")
    return line


def signals_table(state: WatchState, now: float) -> Table:
    table = Table(
        title="perpwatch signals",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for col, justify in (
        ("", "left"),
        ("symbol", "left"),
        ("tf", "left"),
        ("signal", "left"),
        ("conf", "right"),
        ("trend", "left"),
        ("dev %", "right"),
        ("bars", "right"),
        ("RSI", "right"),
        ("price", "right"),
        ("age", "right"),
    ):
        table.add_column(col, justify=cast(JustifyMethod, justify), no_wrap=True)
    for key in sorted(state.rows):
        row = state.rows[key]
        changed = state.changed_at.get(key)
        if changed is not None and now - changed < CHANGED_S:
            mark = Text("◆", style="bold magenta")
        elif now - row.received_at < UPDATED_S:
            mark = Text("•", style="cyan")
        else:
            mark = Text(" ")
        table.add_row(
            mark,
            Text(row.symbol, style="bold"),
            row.timeframe,
            _rec(row.recommendation),
            f"{row.confidence * 100:.0f}%",
            row.trend,
            f"{row.deviation_pct:+.3f}",
            _num(row.bars_since_cross, "d"),
            _num(row.rsi, ".1f"),
            _num(row.price, ".6g"),
            f"{row.age_s(now):.0f}s",
        )
    return table


def _funding_lines(state: WatchState, now: float) -> list[Text]:
    out: list[Text] = []
    for exchange in sorted(state.funding):
        table = state.funding[exchange]
        rows = table.get("rows") or {}
        fetched = table.get("fetched_at_ms")
        age = f", {now - fetched / 1000:.0f}s old" if isinstance(fetched, int) and fetched else ""
        top = sorted(
            (r for r in rows.values() if isinstance(r, dict) and "apr" in r),
            key=lambda r: -abs(float(r["apr"])),
        )[:3]
        tops = ", ".join(f"{r.get('symbol')} {float(r['apr']):+.1f}%" for r in top)
        out.append(
            Text(
                f"funding {exchange}: {len(rows)} contracts{age}"
                + (f"; APR {tops}" if tops else "")
            )
        )
    if state.arbitrage is not None:
        ops = state.arbitrage.get("opportunities") or []
        line = f"arbitrage: {len(ops)} opportunities"
        if ops:
            o = ops[0]
            line += (
                f"; best {o.get('symbol')} long {o.get('long', {}).get('exchange')} "
                f"short {o.get('short', {}).get('exchange')} spread APR {o.get('spread_apr')}%"
            )
        out.append(Text(line))
    return out


def render(state: WatchState, *, now: float, status: str) -> RenderableType:
    """The whole table-mode screen: signals, funding/arbitrage summary, the last changes."""
    parts: list[RenderableType] = []
    if state.rows or "signals" in state.positions:
        parts.append(signals_table(state, now))
    parts.extend(_funding_lines(state, now))
    changes = list(state.changes)[-FOOTER_CHANGES:]
    if changes:
        parts.append(Text("last signal changes", style="bold underline"))
        parts.extend(change_line(c) for c in reversed(changes))
    parts.append(Text(status, style="dim"))
    return Group(*parts)


def _shown(r: Received, changes_only: bool) -> bool:
    """Whether a message counts as shown (for ``exit_after``)."""
    if changes_only:
        return r.type == "signal_change"
    return r.outcome == "state"


async def run_watch(
    opts: WatchOptions,
    *,
    console: Console | None = None,
    notice: Callable[[str], None] | None = None,
) -> int:
    """Follow the push until ``exit_after`` (if set) or forever; the exit status."""
    state = WatchState(symbols=opts.symbols)
    status = f"connecting to {opts.url}"

    def note(line: str) -> None:
        nonlocal status
        status = line.removeprefix("perpwatch watch: ")
        (notice or _stderr)(line)

    stream = watch(
        opts.url,
        state,
        channels=opts.channels,
        symbols=opts.symbols,
        timeframes=opts.timeframes,
        token=opts.token,
        notice=note,
    )
    shown = 0

    def done(r: Received) -> bool:
        nonlocal shown
        if _shown(r, opts.changes_only):
            shown += 1
        return opts.exit_after is not None and shown >= opts.exit_after

    try:
        if opts.json:
            out = sys.stdout
            async for r in stream:
                if not opts.changes_only or r.type == "signal_change":
                    out.write(r.raw + "\n")
                    out.flush()
                if done(r):
                    break
            return 0
        con = console or Console()
        if opts.changes_only:
            async for r in stream:
                if r.type == "signal_change" and state.changes:
                    con.print(change_line(state.changes[-1]))
                elif r.type == "subscribed":
                    con.print(Text(f"watching signal changes on {opts.url}", style="dim"))
                if done(r):
                    break
            return 0
        with Live(console=con, auto_refresh=False, transient=False) as live:

            def draw() -> None:
                live.update(render(state, now=time.time(), status=status), refresh=True)

            async def tick() -> None:
                while True:
                    await asyncio.sleep(REFRESH_S)
                    draw()

            ticker = asyncio.create_task(tick(), name="watch:tick")
            try:
                async for r in stream:
                    if r.type == "subscribed":
                        status = f"live on {opts.url} ({', '.join(opts.channels)})"
                    if done(r):
                        break
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                draw()
        if not con.is_terminal:
            con.line()  # Live ends its last drawing with a newline only on a terminal
        return 0
    finally:
        await stream.aclose()


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def parse_channels(raw: str) -> tuple[Channel, ...]:
    """``signals,funding``: the channels named, in order, each once (ValueError if unknown)."""
    items = [p.strip() for p in raw.split(",") if p.strip()]
    unknown = [p for p in items if p not in CHANNELS]
    if not items or unknown:
        given = ", ".join(unknown) or "none given"
        raise ValueError(f"unknown channel(s): {given}; any of {', '.join(CHANNELS)}")
    return tuple(cast(Channel, c) for c in dict.fromkeys(items))
