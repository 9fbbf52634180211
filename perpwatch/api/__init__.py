"""The HTTP API (FastAPI): app factory and lifespan, dependencies, one router per area."""
