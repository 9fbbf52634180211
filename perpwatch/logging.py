"""Logging configuration, in exactly one place."""

from __future__ import annotations

import logging.config
from typing import Any

DENIAL_NOISE = "ASGI callable returned without completing handshake."


class WebSocketDenialNoise(logging.Filter):
    """Drops uvicorn's false alarm after a WebSocket denial response.

    ``/ws`` refuses a connection (wrong key, too many connections) with an HTTP answer
    before the handshake: the ASGI "websocket.http.response" extension. uvicorn's
    websockets-sansio protocol (0.54) sends that answer but does not mark the handshake
    done, so it logs this ERROR for every refusal. perpwatch's only WebSocket route always
    accepts or refuses, so the message means nothing here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != DENIAL_NOISE


def logging_config(level: str = "INFO") -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
        },
        "filters": {"ws_denial": {"()": WebSocketDenialNoise}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["ws_denial"],
            },
        },
        "loggers": {
            "perpwatch": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
    }


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(level))
