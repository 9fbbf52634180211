"""Readable terminal output for the CLI (rich tables and progress bars)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from perpwatch.runtime import open_runtime
from perpwatch.scheduler.hama_scheduler import RunSummary
from perpwatch.settings import Settings

console = Console()

_COLOURS = {"BUY": "green", "SELL": "red", "HOLD": "yellow"}


def print_analysis(doc: dict[str, Any]) -> None:
    h = doc["hama_analysis"]
    s, ti = h["signals"], h["technical_indicators"]
    rec = h["recommendation"]
    origin = f"from the {doc['cache_source']} cache" if doc["cached"] else "just now"
    table = Table(
        title=f"{doc['symbol']} on {doc['exchange']} ({doc['timeframe']})", show_header=False
    )
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("recommendation", f"[{_COLOURS[rec]}]{rec}[/]"),
        ("confidence", f"{h['confidence']:.2f}"),
        ("trend", h["trend"]),
        ("HAMA close / MA", f"{s['ha_close']:.6g} / {s['hama_ma']:.6g}"),
        ("deviation", f"{s['deviation_pct']:.3f} %"),
        (
            "last cross",
            f"{s['last_cross_direction']} at {s['last_cross_time']} "
            f"({s['bars_since_cross']} bars ago)",
        ),
        ("price", f"{s['realtime_price']:.6g} at {doc['price_time']}"),
        ("RSI 14", f"{ti['rsi']:.2f}"),
        ("MACD", f"{ti['macd']['macd']:.6g} / signal {ti['macd']['signal']:.6g}"),
        ("ATR 14", f"{ti['atr']:.6g} ({ti['atr_pct']:.3f} %)"),
        ("Bollinger width", f"{ti['bollinger']['width']:.4f}"),
        ("volume ratio", str(ti["volume"]["ratio"])),
        ("summary", doc["conditions"]["summary"]),
        ("based on candle closing", doc["candle_close_time"]),
        ("computed", f"{doc['timestamp']} ({origin})"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


async def run_refresh_with_progress(settings: Settings) -> RunSummary:
    async with open_runtime(settings, start_scheduler=False) as rt:
        symbols = await rt.scheduler.resolve_symbols()
        with Progress(
            TextColumn("refreshing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task("refresh", total=len(symbols), failed=0)

            def update(done: int, total: int, failed: int) -> None:
                progress.update(bar, completed=done, failed=failed)

            summary = await rt.scheduler.run_once(symbols, progress=update)
        docs = await rt.service.cached(symbols)
    counts = {"BUY": 0, "SELL": 0, "HOLD": 0}
    for d in docs:
        if d is not None:
            counts[d["hama_analysis"]["recommendation"]] += 1
    table = Table(title="refresh summary")
    for col in ("symbols", "ok", "failed", "duration s", "BUY", "SELL", "HOLD"):
        table.add_column(col)
    table.add_row(
        str(summary.total),
        str(summary.ok),
        str(summary.failed),
        f"{summary.duration_s or 0:.2f}",
        str(counts["BUY"]),
        str(counts["SELL"]),
        str(counts["HOLD"]),
    )
    console.print(table)
    for symbol, err in summary.failures.items():
        console.print(f"[red]{symbol}[/]: {err}")
    return summary
