"""Helpers for tests, benchmarks and scripts that drive perpwatch from the outside.

Nothing in the service imports this package.
"""
