"""``perpwatch`` command line: serve, emulator, analyze, refresh, watch, alerts."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from perpwatch.errors import ConfigError, PerpwatchError
from perpwatch.logging import configure_logging
from perpwatch.settings import SUPPORTED_MARKETS, Settings, load_settings

if TYPE_CHECKING:
    from perpwatch.market.types import FundingRate


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    for flag, name in (("host", "HOST"), ("port", "PORT"), ("market", "MARKET")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "exchange_api_url", None):
        overrides["EXCHANGE_API_URL"] = args.exchange_api_url
    return load_settings(**overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from perpwatch.api.app import create_app
    from perpwatch.api.bind import check_bind
    from perpwatch.api.server_options import API_SERVER_OPTIONS
    from perpwatch.embedded.supervisor import supervise
    from perpwatch.logging import logging_config

    settings = _settings(args)
    check_bind(settings)  # ConfigError -> one line, exit status 2
    configure_logging(settings.log_level)
    # EMBEDDED_REDIS / SERVE_WORKERS: Redis and the workers start before the API and stop
    # after it, in child processes; nothing of theirs runs on the API's event loop
    with supervise(settings) as api_settings:
        uvicorn.run(
            create_app(api_settings),
            host=settings.host,
            port=settings.port,
            log_config=logging_config(settings.log_level),
            **API_SERVER_OPTIONS,
        )
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    from perpwatch.emulator.server import emulator_options, run_emulator

    configure_logging("INFO")
    run_emulator(
        args.host,
        args.port,
        seed=args.seed,
        n_symbols=args.symbols,
        latency_ms=args.latency_ms,
        **emulator_options(args),
    )
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from perpwatch.cli_output import print_analysis
    from perpwatch.runtime import open_runtime
    from perpwatch.symbols import normalize_symbol

    settings = _settings(args)
    configure_logging("WARNING")
    symbol = normalize_symbol(args.symbol)

    async def run() -> dict[str, object]:
        async with open_runtime(settings, start_scheduler=False) as rt:
            served = await rt.service.get(symbol, force_refresh=args.force)
            return served.as_response()

    doc = asyncio.run(run())
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_analysis(doc)
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    from perpwatch.cli_output import run_refresh_with_progress

    settings = _settings(args)
    configure_logging("WARNING")
    summary = asyncio.run(run_refresh_with_progress(settings))
    return 0 if summary.failed == 0 else 1


def cmd_funding(args: argparse.Namespace) -> int:
    from perpwatch.cli_output import print_funding
    from perpwatch.runtime import open_runtime

    settings = _settings(args)
    configure_logging("WARNING")

    async def run() -> tuple[dict[str, Any], list[FundingRate]]:
        async with open_runtime(settings, start_scheduler=False, with_tasks=False) as rt:
            report = await rt.funding.refresh(fast_mode=args.fast, cache_only=args.cache_only)
            return report, await rt.funding.rates()

    report, rates = asyncio.run(run())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_funding(report, rates, limit=args.limit)
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    from perpwatch.cli_output import trigger_task

    settings = _settings(args)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    url = args.url or f"http://{host}:{settings.port}"
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    return trigger_task(
        url, args.what, wait=args.wait, fast=args.fast, timeout_s=args.timeout, api_key=key
    )


DEFAULT_WATCH_URL = "http://127.0.0.1:5000"


def cmd_watch(args: argparse.Namespace) -> int:
    from perpwatch.cli_watch import WatchOptions, parse_channels, run_watch
    from perpwatch.errors import InvalidInput
    from perpwatch.push.watch import WatchRefused, ws_url
    from perpwatch.symbols import normalize_symbol

    try:
        channels = parse_channels(args.channels)
        symbols = frozenset(normalize_symbol(s) for s in args.symbols) if args.symbols else None
    except (ValueError, InvalidInput) as e:
        raise ConfigError(str(e)) from None
    if args.changes_only and "signals" not in channels:
        raise ConfigError("--changes-only needs the signals channel")
    ws_url(args.url)  # an invalid URL is a ConfigError before anything starts
    opts = WatchOptions(
        url=args.url,
        channels=channels,
        symbols=symbols,
        timeframes=frozenset([args.timeframe]) if args.timeframe else None,
        token=args.token or os.environ.get("PERPWATCH_API_KEY") or None,
        json=args.json,
        changes_only=args.changes_only,
        exit_after=args.exit_after,
    )
    try:
        return asyncio.run(run_watch(opts))
    except WatchRefused as e:
        print(f"perpwatch watch: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # piped into head & co.: they have what they wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


ALERTS_TEST_TIMEOUT_S = 60.0


def _alerts_test(url: str, rule_id: str, *, api_key: str | None) -> int:
    """0: the receiver took it; 1: it refused or did not answer; 2: perpwatch said no (or
    is unreachable)."""
    from urllib.parse import quote

    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = httpx.post(
            f"{url.rstrip('/')}/api/alerts/rules/{quote(rule_id, safe='')}/test",
            headers=headers,
            timeout=ALERTS_TEST_TIMEOUT_S,
        )
        answer = r.json()
    except (httpx.HTTPError, ValueError) as e:
        print(f"perpwatch alerts test: cannot reach perpwatch at {url}: {e}", file=sys.stderr)
        return 2
    if r.status_code != 200 or not isinstance(answer, dict) or answer.get("code") != 1:
        msg = answer.get("msg") if isinstance(answer, dict) else r.text[:200]
        print(f"perpwatch alerts test: HTTP {r.status_code}: {msg}", file=sys.stderr)
        return 2
    data = answer["data"]
    if data["delivered"]:
        print(f"delivered: rule {data['rule_id']} via {data['channel']} (HTTP {data['status']})")
        return 0
    print(
        f"not delivered: rule {data['rule_id']} via {data['channel']}: status "
        f"{data['status']}, {data['error']}"
    )
    return 1


def cmd_alerts_test(args: argparse.Namespace) -> int:
    """A test message through a rule's channel, sent by a running perpwatch (``POST
    /api/alerts/rules/{id}/test``): the same process, settings and destination checks as
    its alerts. The API key: ``$PERPWATCH_API_KEY``, else ``API_KEY``."""
    settings = _settings(args)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    key = os.environ.get("PERPWATCH_API_KEY") or (
        settings.api_key.get_secret_value() if settings.api_key is not None else None
    )
    return _alerts_test(args.url or f"http://{host}:{settings.port}", args.rule_id, api_key=key)


def cmd_worker(args: argparse.Namespace) -> int:
    from perpwatch.jobs import build_registry
    from perpwatch.runtime import open_runtime
    from perpwatch.tasks.saq.worker import run_worker

    settings = _settings(args)
    configure_logging(settings.log_level)
    if not settings.redis_enabled:
        raise ConfigError("invalid setting REDIS_ENABLED: perpwatch worker needs Redis")
    if settings.worker_nice:
        os.nice(settings.worker_nice)  # serving first on a shared host (WORKER_NICE)
    # the worker's own task manager only submits (the periodic funding check, when this
    # worker leads); the SAQ worker below executes
    submit_only = settings.model_copy(update={"task_backend": "saq", "task_local_worker": False})
    candidate = settings.hama_scheduler_enabled and settings.hama_scheduler_auto_start
    asyncio.run(
        run_worker(
            redis_url=settings.redis_dsn,
            registry=build_registry(),
            ctx_factory=lambda: open_runtime(
                submit_only, start_scheduler=candidate and not args.no_scheduler, role="worker"
            ),
            concurrency=args.concurrency or settings.task_max_workers,
            shutdown_grace_s=settings.task_shutdown_grace,
            cluster=settings.redis_cluster,
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from perpwatch.emulator.server import add_emulator_options

    p = argparse.ArgumentParser(prog="perpwatch", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def market_flags(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--market", choices=SUPPORTED_MARKETS, help="overrides MARKET")
        sp.add_argument("--exchange-api-url", help="overrides EXCHANGE_API_URL")

    sp = sub.add_parser(
        "serve",
        help="run the HTTP API with the background scheduler (SERVE_WORKERS: in worker "
        "child processes; EMBEDDED_REDIS: on a private Redis)",
    )
    sp.add_argument("--host", help="overrides HOST (default 127.0.0.1)")
    sp.add_argument("--port", type=int, help="overrides PORT (default 5000)")
    market_flags(sp)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("emulator", help="serve the simulated market in Binance USD-M REST format")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8090)
    sp.add_argument("--seed", type=int, default=42)
    sp.add_argument("--symbols", type=int, default=160, help="number of simulated contracts")
    sp.add_argument("--latency-ms", type=float, default=0.0, help="added to every response")
    add_emulator_options(sp)
    sp.set_defaults(func=cmd_emulator)

    sp = sub.add_parser("analyze", help="one HAMA analysis, printed")
    sp.add_argument("symbol")
    sp.add_argument("--json", action="store_true", help="print the JSON document")
    sp.add_argument("--force", action="store_true", help="ignore the cache")
    market_flags(sp)
    sp.set_defaults(func=cmd_analyze)

    sp = sub.add_parser("refresh", help="one full refresh of every watched symbol")
    market_flags(sp)
    sp.set_defaults(func=cmd_refresh)

    sp = sub.add_parser("funding", help="print the current funding-rate table")
    sp.add_argument("--cache-only", action="store_true", help="read the cache, call no exchange")
    sp.add_argument("--fast", action="store_true", help="only the watched pool of symbols")
    sp.add_argument("--limit", type=int, default=25, help="rows to print")
    sp.add_argument("--json", action="store_true", help="print the whole report as JSON")
    market_flags(sp)
    sp.set_defaults(func=cmd_funding)

    sp = sub.add_parser("trigger", help="submit a task to a running perpwatch over HTTP")
    sp.add_argument("what", choices=("funding", "hama"))
    sp.add_argument("--wait", action="store_true", help="follow the task until it ends")
    sp.add_argument("--fast", action="store_true", help="funding: only the watched pool")
    sp.add_argument("--url", help="perpwatch base URL (default http://HOST:PORT)")
    sp.add_argument("--timeout", type=float, default=600.0, help="seconds to wait at most")
    sp.set_defaults(func=cmd_trigger)

    sp = sub.add_parser(
        "watch",
        help="follow a running perpwatch's live push (/ws): a live table, or JSON lines",
        description="Connect to the /ws push endpoint of a running perpwatch and print its "
        "events; on a disconnect, reconnect with backoff and resume where it left off.",
    )
    sp.add_argument("symbols", nargs="*", metavar="SYMBOL", help="only these (default: all)")
    sp.add_argument(
        "--changes-only", action="store_true", help="only signal changes (BUY/SELL/HOLD, cross)"
    )
    sp.add_argument("--json", action="store_true", help="one server message per line, as sent")
    sp.add_argument(
        "--url", default=DEFAULT_WATCH_URL, help="perpwatch base URL (default %(default)s)"
    )
    sp.add_argument("--token", help="the API key (default: $PERPWATCH_API_KEY)")
    sp.add_argument(
        "--channels", default="signals", help="any of signals,funding,arbitrage (default signals)"
    )
    sp.add_argument("--timeframe", metavar="TF", help="only this timeframe (default: all)")
    sp.add_argument("--exit-after", type=int, metavar="N", help=argparse.SUPPRESS)
    sp.set_defaults(func=cmd_watch)

    sp = sub.add_parser("alerts", help="alert rules (see also /api/alerts)")
    alerts_sub = sp.add_subparsers(dest="alerts_command", required=True)
    sp = alerts_sub.add_parser(
        "test", help="send a test message through a rule's channel, by a running perpwatch"
    )
    sp.add_argument("rule_id", metavar="RULE_ID")
    sp.add_argument("--url", help="perpwatch base URL (default http://HOST:PORT)")
    sp.set_defaults(func=cmd_alerts_test)

    sp = sub.add_parser(
        "worker", help="work on refresh shards and tasks from Redis; a scheduler candidate"
    )
    sp.add_argument(
        "--no-scheduler", action="store_true", help="never lead the schedule (only work)"
    )
    sp.add_argument("--concurrency", type=int, help="overrides TASK_MAX_WORKERS")
    market_flags(sp)
    sp.set_defaults(func=cmd_worker)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except ConfigError as e:
        print(f"perpwatch: {e}", file=sys.stderr)
        code = 2
    except PerpwatchError as e:
        print(f"perpwatch: {e}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
