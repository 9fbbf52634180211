"""Pure-numpy technical indicators.

Every function takes 1-D ``float64`` arrays in ascending time order and returns
arrays of the same length, with ``NaN`` where a value is not defined yet. The
standard indicators (SMA, EMA, WMA, Bollinger Bands, RSI, MACD, ATR) reproduce
TA-Lib's output; HAMA follows the TradingView Pine script. Nothing here does
I/O, logging or reads the clock. Import from the submodules, e.g.
``from perpwatch.indicators.hama import hama_series``.
"""
