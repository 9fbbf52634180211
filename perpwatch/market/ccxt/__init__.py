"""The live-exchange adapter on ``ccxt.async_support``: the client's HTTP hooks, retries and
the exchange gate, the weight budget, and :class:`~perpwatch.market.ccxt.market.CcxtMarket`.

Import the modules themselves: importing ccxt takes seconds, and the simulator never needs it.
"""
