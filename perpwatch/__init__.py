"""perpwatch: HAMA signals and funding rates for every USDT-margined perpetual."""

__version__ = "0.1.0"
