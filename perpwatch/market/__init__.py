"""Market data: the port, shared types, the ccxt adapter, per-exchange facts and the simulator."""
