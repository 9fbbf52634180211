"""The deterministic simulated market: the pure model, its venues, and ``SimMarket``."""
