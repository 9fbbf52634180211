"""Market data: exchange adapters, the deterministic simulator and the exchange emulator."""
