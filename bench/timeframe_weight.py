"""Exchange weight per hour with several timeframes: ``HAMA_TIMEFRAMES=15m,1h,4h``, 125 symbols.

Two runs side by side, each with its own ``perpwatch emulator`` (Binance USD-M formats,
ccxt ``binanceusdm``; the emulator counts every klines request and its weight by candle
interval) and one ``perpwatch serve`` doing everything (memory only: no Redis needed for
this count):

* **as configured**: ``HAMA_TIMEFRAMES=15m,1h,4h``. After the start-up (every history
  loaded once: 125 requests of 499 candles per timeframe, weight 2 each), the counters are
  reset and the run watched for ``--minutes``. The primary refreshes on its schedule (every
  ~285 s and at each 15m close); 1h and 4h must fetch nothing unless one of their closes
  falls in the window.
* **closes**: ``HAMA_TIMEFRAMES=15m,1m,3m``: the same code with further timeframes whose
  candles close every 1 and 3 minutes, to measure what a further timeframe's close costs
  (requests and weight per close).

The weight per hour of ``15m,1h,4h`` is then the primary's measured weight per hour plus
one measured close cost per 1h close (1 an hour) and per 4h close (0.25 an hour).

    python bench/timeframe_weight.py [--minutes 5] [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import ROOT, free_port, machine
from bench.lifetime import OwnedProcess, bounded, emulator
from bench.provenance import code_state

HEADING = "Exchange weight per hour with several timeframes"
SYMBOLS = 125


@contextlib.contextmanager
def perpwatch(emu_url: str, timeframes: str) -> Iterator[str]:
    port = free_port()
    env = {
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        "MARKET": "binanceusdm",
        "EXCHANGE_API_URL": emu_url,
        "SYMBOLS_LIMIT": str(SYMBOLS),
        "HAMA_TIMEFRAMES": timeframes,
        "REDIS_ENABLED": "false",
        "FUNDING_CHECK_ENABLED": "false",
    }
    with OwnedProcess(["serve", "--port", str(port)], env=env) as proc:
        base = f"http://127.0.0.1:{port}"
        proc.wait_http(f"{base}/health/ready", timeout_s=120)
        yield base


def status(base: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{base}/api/gainer-analysis/scheduler/status",
                                     timeout=10).json()["data"]  # fmt: skip
    return data


def started_up(base: str) -> bool:
    s = status(base)
    return s["last_run"] is not None and all(t["last_run"] for t in s["timeframes"])


def stats(emu: str) -> dict[str, Any]:
    out: dict[str, Any] = httpx.get(f"{emu}/_emulator/stats", timeout=10).json()
    return out


def run(timeframes: str, minutes: float) -> dict[str, Any]:
    with emulator(latency_ms=0, symbols=160) as (emu, _proc), perpwatch(emu, timeframes) as base:
        deadline = time.monotonic() + 120
        while not started_up(base):
            assert time.monotonic() < deadline, "no start-up refresh"
            time.sleep(0.5)
        startup = stats(emu)
        httpx.post(f"{emu}/_emulator/reset", timeout=10)
        runs_before = {t["timeframe"]: t["runs"] for t in status(base)["timeframes"]}
        t0 = time.monotonic()
        time.sleep(minutes * 60)
        window_s = time.monotonic() - t0
        s = stats(emu)
        st = status(base)
    closes = {t["timeframe"]: t for t in st["timeframes"]}
    return {
        "timeframes": timeframes,
        "window_s": round(window_s, 1),
        "startup": {
            "requests": startup.get("klines_by_interval", {}),
            "weight": startup.get("klines_weight_by_interval", {}),
        },
        "requests": s.get("klines_by_interval", {}),
        "weight": s.get("klines_weight_by_interval", {}),
        "weight_total": s.get("weight_total", 0),
        # closes refreshed in the window (catch-ups with nothing to do are not runs)
        "runs": {tf: c["runs"] - runs_before.get(tf, 0) for tf, c in closes.items()},
        "primary_runs": st["runs"],
    }


def main(argv: list[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--write", action="store_true", help="replace the section in the docs")
    args = p.parse_args(argv)
    if not 2 <= args.minutes <= 60:
        p.error("--minutes: 2 to 60")
    from concurrent.futures import ThreadPoolExecutor

    with bounded(300 + 120 * args.minutes), ThreadPoolExecutor(2) as pool:
        real = pool.submit(run, "15m,1h,4h", args.minutes)
        short = pool.submit(run, "15m,1m,3m", args.minutes)
        out = {
            "when": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            "machine": machine(),
            "code": code_state(),
            "real": real.result(),
            "short": short.result(),
        }
    print(section(out))
    if args.write:
        from bench.optional_steps import replace_section

        replace_section(ROOT / "docs" / "benchmarks.md", HEADING, section(out))
    return out


def per_close(r: dict[str, Any], tf: str) -> tuple[float, float, int]:
    """(requests, weight) per close of ``tf`` in run ``r``, and the closes it refreshed."""
    closes = max(1, r["runs"].get(tf, 0))
    return r["requests"].get(tf, 0) / closes, r["weight"].get(tf, 0) / closes, closes


def section(out: dict[str, Any]) -> str:
    real, short = out["real"], out["short"]
    hours = real["window_s"] / 3600
    primary_w = real["weight"].get("15m", 0) / hours
    primary_r = real["requests"].get("15m", 0) / hours
    rq1, w1, n1 = per_close(short, "1m")
    rq3, w3, n3 = per_close(short, "3m")
    close_w = max(w1, w3)  # what one further close costs, the dearer of the two measured
    close_r = max(rq1, rq3)
    total = primary_w + close_w * (1 + 0.25)
    extra_r = close_r * (1 + 0.25)
    between = {tf: real["requests"].get(tf, 0) for tf in ("1h", "4h")}
    su_r, su_w = real["startup"]["requests"], real["startup"]["weight"]
    tfs = ("15m", "1h", "4h")
    rows = [
        ("start-up, once per timeframe (15m / 1h / 4h)",
         " / ".join(str(su_r.get(t)) for t in tfs), " / ".join(str(su_w.get(t)) for t in tfs)),
        (f"primary 15m, per hour ({real['window_s']:.0f} s window, {real['primary_runs']} runs "
         "in all)", f"{primary_r:.0f}", f"{primary_w:.0f}"),
        ("1h and 4h between their closes, in that window", f"{between['1h']} and {between['4h']}",
         f"{real['weight'].get('1h', 0)} and {real['weight'].get('4h', 0)}"),
        (f"a further timeframe's close (1m: {n1} closes, 3m: {n3} closes measured)",
         f"{rq1:.1f} (1m), {rq3:.1f} (3m)", f"{w1:.1f} (1m), {w3:.1f} (3m)"),
        ("**15m,1h,4h per hour**: primary + 1.25 closes", f"{primary_r + extra_r:.0f}",
         f"**{total:.0f}**"),
    ]  # fmt: skip
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    return f"""## {HEADING}

`python bench/timeframe_weight.py --write`, measured {out["when"]} on {out["machine"]}, code
{out["code"]}. ccxt `binanceusdm` against `perpwatch emulator`, {SYMBOLS} symbols, one
`perpwatch serve` doing everything, klines requests and their Binance weight counted by
the emulator per candle interval. Target (the issue): adding `1h,4h` costs at most
{SYMBOLS} requests per hour and per 4 h, of the cheapest weight.

| | requests | weight |
|---|---|---|
{table}

So 1h and 4h add {extra_r:.0f} requests and {close_w * 1.25:.0f} weight per hour
({close_w / max(close_r, 1):.2f} weight per request: incremental fetches of under 100
candles, Binance's cheapest tier), against the primary's {primary_w:.0f}. Binance allows
2400 weight per minute, 144,000 per hour.
"""


if __name__ == "__main__":
    main(sys.argv[1:])
