"""``perpwatch`` command line: serve, emulator, analyze, refresh."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from perpwatch.errors import ConfigError, PerpwatchError
from perpwatch.logging import configure_logging
from perpwatch.settings import SUPPORTED_MARKETS, Settings, load_settings


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
    from perpwatch.logging import logging_config

    settings = _settings(args)
    configure_logging(settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=logging_config(settings.log_level),
        access_log=False,
    )
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    from perpwatch.market.emulator.server import run_emulator

    configure_logging("INFO")
    run_emulator(
        args.host, args.port, seed=args.seed, n_symbols=args.symbols, latency_ms=args.latency_ms
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
            doc = dict(served.document)
            doc.update(cached=served.cached, cache_source=served.source, age_seconds=served.age_s)
            return doc

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perpwatch", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def market_flags(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--market", choices=SUPPORTED_MARKETS, help="overrides MARKET")
        sp.add_argument("--exchange-api-url", help="overrides EXCHANGE_API_URL")

    sp = sub.add_parser("serve", help="run the HTTP API with the background scheduler")
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
