"""Run every benchmark and write the figures to docs/benchmarks.md.

python bench/run_all.py        (or: make bench)
python bench/run_all.py --with scale-out,latency-while-computing   (or BENCH_WITH=...; all)

The optional steps (bench/optional_steps.py) take minutes each; a step not run keeps its
section of the current docs/benchmarks.md, with the date of the run that wrote it.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    analyze_latency,
    cache_hit_throughput,
    funding_bench,
    optional_steps,
    refresh_bench,
    task_submit_latency,
)
from bench.common import ROOT, machine


def main() -> None:
    optional = optional_steps.sections(sys.argv[1:], ROOT / "docs" / "benchmarks.md")
    refresh = refresh_bench.main([])
    latency = analyze_latency.main([])
    throughput = cache_hit_throughput.main([])
    funding = funding_bench.main([])
    submit = task_submit_latency.main([])
    si, ss = submit["inprocess"], submit["saq"]
    ok_funding = funding["warm_p50_s"] < 1.0 and funding["status"] == "success"
    ok_submit = si["p99_ms"] < 10.0 and ss["p99_ms"] < 10.0
    counts = ", ".join(f"{ex} {n}" for ex, n in funding["contracts"].items())
    reqs = ", ".join(f"`{p}` ×{n}" for p, n in sorted(funding["warm_requests"].items()))
    r, m = latency["redis"], latency["memory"]
    ok_refresh = refresh["first_refresh_total_s"] < 3.0 and refresh["first_refresh_failed"] == 0
    ok_latency = r["p50_ms"] < 2.0 and m["p50_ms"] < 2.0
    text = f"""# Benchmarks

Written by `make bench` (`bench/run_all.py`) on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC,
{machine()}. Every figure below comes from that run (the optional steps' sections: from the
run their own date names); rerun it to check them.

## Full refresh of {refresh["symbols"]} symbols, emulator at {refresh["latency_ms"]:.0f} ms latency

`bench/refresh_bench.py`: the real ccxt `binanceusdm` client against `perpwatch emulator`
(its own process, {refresh["latency_ms"]:.0f} ms added to every response), Redis cache,
{refresh["concurrency"]} symbols at a time. Target: under 3 s. **{"met" if ok_refresh else "NOT met"}**.

| run | time | ok | failed | request weight counted by the emulator |
|---|---|---|---|---|
| first (listing + full history of every symbol) | {refresh["first_refresh_total_s"]:.2f} s (listing {refresh["listing_s"]:.2f} s) | {refresh["first_refresh_ok"]} | {refresh["first_refresh_failed"]} | {refresh["first_refresh_weight"]} |
| second (incremental candles only) | {refresh["second_refresh_s"]:.2f} s | {refresh["second_refresh_ok"]} | {refresh["second_refresh_failed"]} | {refresh["second_refresh_weight"]} |

Kline `limit` values asked for in the second run: {refresh["second_refresh_klines_limits"]}
(Binance weight 1 below 100; the first load asks 499, weight 2).

## Cache-hit latency of `POST /api/gainer-analysis/analyze-symbol`

`bench/analyze_latency.py`: `perpwatch serve` (simulated market) in its own process,
{r["requests"]} sequential requests over one keep-alive connection after the first refresh,
round-robin over {r["symbols"]} symbols, timed at the client (stdlib `http.client`, so the
figures include the client's own HTTP work, about 0.1 ms). Target: p50 under 2 ms. **{"met" if ok_latency else "NOT met"}**.

| cache | p50 | p90 | p99 | max | responses that were not cache hits |
|---|---|---|---|---|---|
| Redis | {r["p50_ms"]:.3f} ms | {r["p90_ms"]:.3f} ms | {r["p99_ms"]:.3f} ms | {r["max_ms"]:.1f} ms | {r["not_cache_hits"]} |
| memory | {m["p50_ms"]:.3f} ms | {m["p90_ms"]:.3f} ms | {m["p99_ms"]:.3f} ms | {m["max_ms"]:.1f} ms | {m["not_cache_hits"]} |

{cache_hit_throughput.section(throughput)}
## Funding refresh of three exchanges, emulator at {funding["latency_ms"]:.0f} ms latency

`bench/funding_bench.py`: the real ccxt `binanceusdm`, `bybit` and `okx` clients against
the emulator (its own process, {funding["latency_ms"]:.0f} ms added to every response), one
`FundingMonitor.refresh()` of every listed contract: {counts}. Target: under 1 s.
**{"met" if ok_funding else "NOT met"}**.

| refresh | time | requests |
|---|---|---|
| cold (markets loaded first) | {funding["cold_s"]:.2f} s | {funding["cold_requests"]} |
| warm, p50 of {funding["warm_runs"]} | {funding["warm_p50_s"]:.2f} s (max {funding["warm_max_s"]:.2f} s) | {sum(funding["warm_requests"].values())}: {reqs} |

## Task submission latency over HTTP

`bench/task_submit_latency.py`: `GET /funding_monitor/latest-rates-async` on `perpwatch serve`,
{si["requests"]} submissions at 50 a second over one keep-alive connection (stdlib
`http.client`), alternating `fast_mode`, while the funding refreshes they start really run
in the same process (ccxt against the emulator's Binance USD-M at 100 ms latency); the
per-client submission limit is switched off for the run (`SUBMIT_RATE_PER_MIN=0`). Target: p99 under 10 ms. **{"met" if ok_submit else "NOT met"}**.

| backend | p50 | p99 | max | tasks created | deduplicated | errors |
|---|---|---|---|---|---|---|
| in-process | {si["p50_ms"]:.3f} ms | {si["p99_ms"]:.3f} ms | {si["max_ms"]:.1f} ms | {si["tasks_created"]} | {si["deduplicated"]} | {si["errors"]} |
| SAQ (Redis) | {ss["p50_ms"]:.3f} ms | {ss["p99_ms"]:.3f} ms | {ss["max_ms"]:.1f} ms | {ss["tasks_created"]} | {ss["deduplicated"]} | {ss["errors"]} |

{optional}"""
    out = ROOT / "docs" / "benchmarks.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
