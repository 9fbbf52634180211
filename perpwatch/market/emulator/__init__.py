"""A Binance USD-M futures REST emulator serving the deterministic simulated market.

Point any Binance client (ccxt ``binanceusdm`` included) at :func:`running_emulator`'s URL
to exercise real HTTP, real parsing and Binance's request weights without the internet.
"""

from perpwatch.market.emulator.binance import BinanceEmulator, create_emulator_app
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
    "EmulatorStats",
    "WeightCounter",
    "create_emulator_app",
    "klines_weight",
    "request_weight",
    "run_emulator",
    "running_emulator",
]
