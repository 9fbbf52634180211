"""Signals from indicators: the HAMA analysis of one symbol, its confidence, the service."""
