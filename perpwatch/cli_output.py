"""Readable terminal output for the CLI (rich tables and progress bars)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from perpwatch.analysis.funding import arbitrage
from perpwatch.market.types import FundingRate
from perpwatch.runtime import open_runtime
from perpwatch.scheduler.hama_scheduler import RunSummary
from perpwatch.settings import Settings

console = Console()

_COLOURS = {"BUY": "green", "SELL": "red", "HOLD": "yellow"}


def _ratio(value: float | None) -> str:
    """A volume ratio as people read it (``2.14x``); none when the average was zero."""
    return "n/a (no volume before)" if value is None else f"{value:.2f}x"


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
        ("volume ratio", _ratio(ti["volume"]["ratio"])),
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


def print_funding(report: dict[str, Any], rates: list[FundingRate], *, limit: int) -> None:
    contracts = sorted(report["contracts"].values(), key=lambda r: -abs(r["apr"]))
    table = Table(title=f"funding on {report['exchange']} ({report['count']} contracts)")
    for col in ("symbol", "rate", "interval", "APR %", "next funding", "mark", "source"):
        table.add_column(col)
    for r in contracts[:limit]:
        table.add_row(
            r["symbol"],
            f"{r['funding_rate']:+.6f}",
            r["funding_interval"],
            f"{r['apr']:+.2f}",
            r["next_funding_time"],
            f"{r['mark_price']:.6g}",
            r["data_source"],
        )
    console.print(table)
    for ex, state in report["exchanges"].items():
        if state["error"]:
            console.print(f"[yellow]{ex}[/]: {state['source']} ({state['error']})")
    ops = arbitrage(rates)
    if ops:
        arb = Table(title="cross-exchange arbitrage (by spread APR)")
        for col in ("symbol", "long", "short", "spread APR %", "price gap %"):
            arb.add_column(col)
        for o in ops[:limit]:
            arb.add_row(
                o.symbol,
                f"{o.long.exchange} {o.long.apr:+.2f}",
                f"{o.short.exchange} {o.short.apr:+.2f}",
                f"{o.spread_apr:.2f}",
                f"{o.price_gap_pct:+.3f}",
            )
        console.print(arb)


TERMINAL = ("completed", "failed", "cancelled")


def trigger_task(
    url: str, what: str, *, wait: bool, fast: bool, timeout_s: float, api_key: str | None = None
) -> int:
    """Submit over HTTP; with ``wait``, follow the task with a live status line.

    ``api_key`` (the ``API_KEY`` setting) is sent as ``Authorization: Bearer`` when set.
    """
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=url, timeout=10, headers=headers) as client:
        try:
            if what == "funding":
                r = client.get(
                    "/funding_monitor/latest-rates-async",
                    params={"fast_mode": str(fast).lower()},
                )
                task_id = r.json()["task_id"] if r.status_code == 200 else None
            else:
                r = client.post("/api/gainer-analysis/refresh")
                task_id = r.json()["data"]["task_id"] if r.status_code == 202 else None
        except httpx.HTTPError as e:
            console.print(f"[red]cannot reach perpwatch at {url}[/]: {e}")
            return 2
        if task_id is None:
            console.print(f"[red]submit refused[/] (HTTP {r.status_code}): {r.text[:300]}")
            return 1
        console.print(f"submitted task [bold]{task_id}[/]")
        if not wait:
            return 0
        deadline = time.monotonic() + timeout_s
        info: dict[str, Any] = {}
        with console.status("waiting", spinner="dots") as status:
            while time.monotonic() < deadline:
                resp = client.get(f"/api/tasks/{task_id}")
                if resp.status_code == 404:
                    console.print("[red]the task is gone (expired or unknown)[/]")
                    return 1
                info = resp.json()["data"]
                started = info.get("started_at") or info["submitted_at"]
                status.update(f"{info['status']} for {time.time() - started:.1f}s")
                if info["status"] in TERMINAL:
                    break
                time.sleep(0.25)
            else:
                console.print(f"[yellow]still {info.get('status')} after {timeout_s:g}s[/]")
                return 1
    colour = "green" if info["status"] == "completed" else "red"
    console.print(f"[{colour}]{info['status']}[/] in {info.get('duration_s') or 0:.2f}s")
    if info["status"] == "failed":
        console.print(f"{info.get('error_type')}: {info.get('error')}")
    result = info.get("result")
    if isinstance(result, dict):
        keys = ("status", "count", "real_time_count", "cached_count", "total", "ok", "failed")
        console.print({k: result[k] for k in keys if k in result})
    return 0 if info["status"] == "completed" else 1
