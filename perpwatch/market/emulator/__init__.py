"""Exchange REST emulators serving the deterministic simulated market, all in one app.

Binance USD-M (``/fapi``), Bybit v5 (``/v5``) and OKX v5 (``/api/v5``) public market data,
each over its own venue of the simulator. Point the ccxt clients (``binanceusdm``,
``bybit``, ``okx``) at :func:`running_emulator`'s URL to exercise real HTTP, real parsing
and Binance's request weights without the internet.
"""

from perpwatch.market.emulator.binance import BinanceEmulator, create_emulator_app
from perpwatch.market.emulator.bybit import BybitEmulator
from perpwatch.market.emulator.okx import OkxEmulator
from perpwatch.market.emulator.server import run_emulator, running_emulator
from perpwatch.market.emulator.weights import (
    REQUEST_WEIGHT_LIMIT_1M,
    WEIGHT_HEADER,
    EmulatorStats,
    WeightCounter,
    klines_weight,
    request_weight,
)

__all__ = [
    "REQUEST_WEIGHT_LIMIT_1M",
    "WEIGHT_HEADER",
    "BinanceEmulator",
    "BybitEmulator",
    "EmulatorStats",
    "OkxEmulator",
    "WeightCounter",
    "create_emulator_app",
    "klines_weight",
    "request_weight",
    "run_emulator",
    "running_emulator",
]
