"""Exchange REST emulators serving the deterministic simulated market, all in one app.

Binance USD-M (``/fapi``), Bybit v5 (``/v5``) and OKX v5 (``/api/v5``) public market data,
each over its own venue of the simulator. Point the ccxt clients (``binanceusdm``,
``bybit``, ``okx``) at :func:`running_emulator`'s URL to exercise real HTTP, real parsing,
Binance's request weights and limits (429, 418 bans) and injected faults without the
internet.
"""

from perpwatch.emulator.app import create_emulator_app
from perpwatch.emulator.binance import BinanceEmulator
from perpwatch.emulator.bybit import BybitEmulator
from perpwatch.emulator.faults import FaultConfig
from perpwatch.emulator.front import EmulatorApp
from perpwatch.emulator.limits import LimitConfig
from perpwatch.emulator.okx import OkxEmulator
from perpwatch.emulator.server import emulator_from_options, run_emulator, running_emulator
from perpwatch.emulator.weights import (
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
    "EmulatorApp",
    "EmulatorStats",
    "FaultConfig",
    "LimitConfig",
    "OkxEmulator",
    "WeightCounter",
    "create_emulator_app",
    "emulator_from_options",
    "klines_weight",
    "request_weight",
    "run_emulator",
    "running_emulator",
]
