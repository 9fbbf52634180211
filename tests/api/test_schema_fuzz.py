"""Property-based fuzz of the WHOLE OpenAPI schema against the real app over HTTP.

schemathesis takes the app's OpenAPI schema and, against a real uvicorn on loopback,
sends schema-valid and schema-invalid requests to every operation: its explicit examples,
its coverage cases (boundaries, missing and wrong-typed fields, unexpected methods) and
``MAX_EXAMPLES`` generated cases, derandomized so every run sends the same requests. Every
default check runs: no 5xx, every status/content type/header/body declared by the schema,
invalid input rejected with a 4xx, valid input not rejected, 405 with ``Allow`` for
undeclared methods, and the API key enforced where the schema says it is required.

Setup: ``MARKET=sim``, ``REDIS_ENABLED=false``, the scheduler not started, and ``API_KEY``
set and sent with every case, so the state-changing operations run for real (schemathesis
also probes them without and with a wrong key).

Deliberate settings, each with its reason:

* ``positive_data_acceptance`` also accepts **400**: the schema states a symbol's shape
  (``pattern``), and the server then checks it names a contract -- ``"::"`` or ``"A-SWAP"``
  match the shape but have too few characters left once separators are removed. Those
  get 400 with a clear message, just as a well-formed but unlisted name gets 404.
* ``negative_data_rejection`` also accepts **413**: an invalid body can be larger than
  ``MAX_BODY_BYTES`` (e.g. 1001 long symbols), and is then refused before it is parsed.
  Its default list of statuses has 403/406/428/5xx, which this API never answers to bad
  input, so they are left out: a 5xx for bad input is a failure here.
* ``/health/ready`` may answer **503**: that is its contract (not ready until a refresh
  has produced data), for load balancers.
* ``SUBMIT_RATE_PER_MIN``/``SUBMIT_BURST`` are raised so the fuzzer exercises the costly
  operations instead of the rate limiter (429 is still declared; ``test_security.py``
  tests it).

Nothing is excluded.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from perpwatch.api.app import create_app
from tests.api.conftest import sim_settings
from tests.support.http_server import serve_app

API_KEY = "fuzz-key-0123456789abcdef"
MAX_EXAMPLES = 30
SEED = 20261125

FUZZ_SETTINGS: dict[str, object] = {
    "REDIS_ENABLED": False,
    "API_KEY": API_KEY,
    "SUBMIT_RATE_PER_MIN": 100_000,
    "SUBMIT_BURST": 100_000,
}

CONFIG = {
    "seed": SEED,
    "headers": {"Authorization": f"Bearer {API_KEY}"},
    "generation": {
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
    },
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "404", "409", "429"],
        },
        "negative_data_rejection": {
            "expected-statuses": ["400", "401", "404", "405", "409", "413", "415", "422", "429"],
        },
    },
    "operations": [
        {
            "include-path": "/health/ready",
            "checks": {
                "not_a_server_error": {"expected-statuses": ["2xx", "4xx", "503"]},
                "positive_data_acceptance": {"expected-statuses": ["2xx", "503"]},
            },
        },
    ],
}


SETTINGS = sim_settings(**FUZZ_SETTINGS)

# The schema is generated from the app at import time, because schemathesis' lazy
# ``from_fixture`` loader does not work with pytest 9.2 (it writes ``Node._nodeid``);
# ``test_served_schema_is_the_fuzzed_one`` checks the running server serves exactly it.
OPENAPI = create_app(SETTINGS).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI, config=SchemathesisConfig.from_dict(CONFIG))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """One real uvicorn for every operation (``app_client`` is per test: 16 starts)."""
    with serve_app(create_app(SETTINGS)) as url:
        yield url


def test_served_schema_is_the_fuzzed_one(server: str) -> None:
    assert httpx.get(f"{server}/openapi.json").json() == OPENAPI


@schema.parametrize()
def test_whole_schema(case: schemathesis.Case, server: str) -> None:
    response = case.call_and_validate(base_url=server, timeout=10)
    assert "Traceback" not in response.text
