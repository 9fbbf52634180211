"""ASGI middleware of the API, one per module."""
