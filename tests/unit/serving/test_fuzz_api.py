"""The HTTP API fuzzed from its own OpenAPI description (schemathesis), in process over ASGI, with a tiny real
model, API keys and a real shipper spilling to disk: inputs that fit the description and inputs that do not.
No answer may be a 5xx, every answer must be documented (status, content type, body schema), and inputs that
break the description must be refused. Run with ``-s`` to see the inputs tried per operation and their answers."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.python.asgi import get_client, shutdown_lifespans
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from streams.brokers import free_port
from streams.kafka import KafkaSettings
from streams.serving import ServeConfig, ServingRuntime, create_app
from streams.serving.auth import SCOPES, ApiKeys
from tests.unit.serving.conftest import Toy

EXAMPLES = 25
"""Inputs per operation and mode: the whole run stays well under a minute on two cores."""
KEY = "fuzz-key-0123456789abcdef"


def invalid_input_refused(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """schemathesis's negative_data_rejection, with 413 (a body over the bound) counted as a refusal too."""
    return None if response.status_code == 413 else negative_data_rejection(ctx, response, case)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          invalid_input_refused]


def _fuzz(operation: APIOperation, mode: GenerationMode, headers: dict[str, str], tried: Counter[str]) -> None:
    """Send ``EXAMPLES`` generated inputs to ``operation``, counting answers by status, checking each."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        tried[f"{mode.value} {response.status_code}"] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_no_input_breaks_the_api(toy: Toy, tmp_path: Path) -> None:
    config = ServeConfig(model=toy.model, follow_releases=False, spill_dir=tmp_path / "spill", delivery_timeout=0.3,
                         retry_interval=0.1, max_batch_request=16)
    runtime = ServingRuntime(config, registry=toy.registry,
                             kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}"))
    app = create_app(runtime, api_keys=ApiKeys({KEY: frozenset(SCOPES)}))
    headers = {"authorization": f"Bearer {KEY}"}
    tried: dict[str, Counter[str]] = defaultdict(Counter)
    try:
        with get_client(app) as client:  # starts the app's lifespan (the runtime) once, for every call below
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the model did not load"
                time.sleep(0.05)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.NEGATIVE and not operation.body and not operation.query:
                    continue  # nothing to break in a GET without parameters

                _fuzz(operation, mode, headers, tried[operation.label])
    finally:
        shutdown_lifespans()
    for label, answers in sorted(tried.items()):
        print(f"{label:32} {sum(answers.values()):3} inputs  " + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items())))
    assert {"POST /v1/predict", "POST /v1/predict/batch", "POST /v1/feedback", "POST /v1/chat/completions",
            "GET /metrics"} <= set(tried)
    assert all(int(answer.split()[1]) < 500 for answers in tried.values() for answer in answers)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-s", "-q"])
