"""The HTTP API of ``pioneer serve`` (FastAPI; the OpenAPI description is at ``/openapi.json``, docs at ``/docs``).

==================================  ==================================================================
``POST /v1/predict``                 one input -> prediction, request id, model version
``POST /v1/predict/batch``           many inputs -> predictions, all from one model version
``POST /v1/feedback``                a label or verdict for a request id -> the labels topic (202)
``POST /v1/chat/completions``        OpenAI-compatible, generation models (see :mod:`streams.serving.chat`)
``GET  /v1/models``                  OpenAI-compatible model list
``GET  /v1/models/{model}``          OpenAI-compatible model (``models.retrieve``)
``GET  /healthz``                    alive (the process answers)
``GET  /readyz``                     ready (a model serves; 503 before), broker and spill state
``GET  /metrics``                    Prometheus
==================================  ==================================================================

Every response carries ``X-Request-ID`` (the client's, or a fresh one) and ``X-Model-Version`` (the version
that answered a prediction; the serving version for other routes). Predictions are written with orjson from
the same :class:`~pioneer.events.Output` objects the inference logs carry, so what the client sees is what is
logged.

Errors have one shape per API family: ``{"error": "message"}`` on Pioneer's routes (422s add ``detail``, one
entry per refused field), and OpenAI's ``{"error": {"message", "type", "param", "code"}}`` on the OpenAI routes
(see :mod:`streams.serving.openai_errors`). Every status a route gives is in the OpenAPI description.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import pioneer
from pioneer.events import Input, Output, Span
from pioneer.serving import ModelNotReady, ServedModel, feedback_label, new_id
from pioneer.serving.records import MAX_REQUEST_ID
from streams.serving.auth import ApiKeys, BearerAuth
from streams.serving.chat import chat_router
from streams.serving.feedback import FeedbackGuard, FeedbackRefused
from streams.serving.limits import (
    MAX_BODY_BYTES,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_TEXT_CHARS,
    REQUEST_ID_RE,
    BodyLimit,
    send_error,
)
from streams.serving.openai_errors import (
    OpenAIErrorShape,
    invalid_request,
    is_openai_path,
)
from streams.serving.openai_schema import ChatCompletionChunk
from streams.serving.payloads import (
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorBody,
    FeedbackRequest,
    FeedbackResponse,
    Health,
    InvalidBody,
    PredictRequest,
    PredictResponse,
    Readiness,
)
from streams.serving.runtime import Answered, ServingRuntime

ENDPOINTS = {
    "/v1/predict": "predict",
    "/v1/predict/batch": "predict_batch",
    "/v1/feedback": "feedback",
    "/v1/chat/completions": "chat_completions",
    "/v1/models": "models",
    "/v1/models/{model}": "model",
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/metrics": "metrics",
}
"""Paths counted in metrics under their own name (anything else is ``other``, so labels stay bounded)."""

NOT_READY = {503: {"model": ErrorBody, "description": "No model is loaded yet"}}
BAD_REQUEST_ID = {400: {"model": ErrorBody, "description": "The X-Request-ID header is not 1 to "
                        f"{MAX_REQUEST_ID} printable ASCII characters without spaces"}}
"""The one answer every route may give before anything else runs (the request-id middleware)."""
GUARDED = {
    **BAD_REQUEST_ID,
    401: {"model": ErrorBody, "description": "No valid API key (`Authorization: Bearer KEY`; when keys are configured)"},
    403: {"model": ErrorBody, "description": "The API key does not grant this route's scope"},
    413: {"model": ErrorBody, "description": f"Body over {MAX_BODY_BYTES} bytes (checked before it is read), "
          "or more inputs than a batch request may carry"},
    422: {"model": InvalidBody, "description": f"Invalid request: a text over {MAX_TEXT_CHARS} characters, metadata "
          f"deeper than {MAX_METADATA_DEPTH} levels or over {MAX_METADATA_BYTES} bytes, a request id that is not "
          "printable ASCII, JSON with lone surrogates or NaN, a missing or unknown field"},
}
"""Answers every route with a body may give before it runs (the middlewares and the request models)."""
RATE_LIMITED = {429: {"model": ErrorBody, "description": "Too much feedback of this source; retry after the "
                      "`Retry-After` header's seconds",
                      "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}}}


class RequestContext:
    """Pure ASGI middleware: a request id for every request, the two headers on every response, and the
    request count and latency metrics (a middleware sees every status, validation errors included)."""

    def __init__(self, app: ASGIApp, runtime: ServingRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id")
        refused = request_id is not None and not valid_request_id(request_id)
        if request_id is None or refused:
            request_id = new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                if "x-request-id" not in headers:
                    headers["x-request-id"] = request_id
                if "x-model-version" not in headers:
                    headers["x-model-version"] = self.runtime.slot.version or "none"
            await send(message)

        try:
            if refused:  # before the body is read or anything logged: the id could not travel back in a header
                await send_error(send_with_headers, 400, f"X-Request-ID must be 1 to {MAX_REQUEST_ID} printable "
                                  "ASCII characters without spaces")
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            endpoint = ENDPOINTS.get(_route(scope["path"]), "other")
            metrics = self.runtime.metrics
            metrics.requests.labels(endpoint, str(status)).inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)


def valid_request_id(request_id: str) -> bool:
    """Whether ``request_id`` can be logged and sent back in a response header."""
    return 0 < len(request_id) <= MAX_REQUEST_ID and REQUEST_ID_RE.match(request_id) is not None


def _route(path: str) -> str:
    """The route template of ``path``, for the metrics' bounded endpoint label."""
    return "/v1/models/{model}" if path.startswith("/v1/models/") else path


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    """422 naming each refused field and why, without echoing the input back (it may be large, or unencodable);
    on the OpenAI routes, OpenAI's 400 naming the first refused field."""
    if is_openai_path(request.url.path):
        return invalid_request(exc).response(request.state.request_id, None)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return _json({"error": f"invalid request: {summary}", "detail": errors}, 422)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _json(payload: Any, status: int = 200, **headers: str) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers or None)


def _expected(body: FeedbackRequest) -> Output | None:
    if body.label is None and body.spans is None and body.text is None:
        return None
    spans = None if body.spans is None else [Span(**s.model_dump()) for s in body.spans]
    return Output(label=body.label, spans=spans, text=body.text)


def _model(served: ServedModel) -> dict[str, str]:
    return {"name": served.name, "version": served.version, "task": served.task}


def create_app(runtime: ServingRuntime, *, manage_runtime: bool = True, api_keys: ApiKeys | None = None) -> FastAPI:
    """The FastAPI app serving ``runtime``. With ``manage_runtime`` the app's lifespan starts and stops it.
    With ``api_keys``, every route but health, readiness and the docs needs a key (see :mod:`.auth`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    config = runtime.config
    app = FastAPI(
        title="Pioneer serving",
        version=pioneer.__version__,
        summary=f"Serves model {config.model!r} ({config.alias}) and logs every inference to Kafka.",
        description="Errors have one shape per API family. Pioneer's routes (predict, feedback, operations) answer "
        '`{"error": "message"}` (a 422 adds `detail`, one entry per refused field); the OpenAI-compatible routes '
        '(`/v1/chat/completions`, `/v1/models`) answer OpenAI\'s `{"error": {"message", "type", "param", "code"}}`, '
        "validation errors included (400, naming the field in `param`).",
        lifespan=lifespan if manage_runtime else None,
    )
    app.add_middleware(BodyLimit)  # innermost: runs after the request id is set, before any body is read
    app.add_middleware(BearerAuth, keys=api_keys)  # before the body: no key, no bytes read
    app.add_middleware(RequestContext, runtime=runtime)
    app.add_middleware(OpenAIErrorShape)  # outermost: every answer of the OpenAI routes in OpenAI's error shape
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    guard = FeedbackGuard(rate=config.feedback_rate, burst=config.feedback_burst)
    app.include_router(chat_router(runtime, guard.remember))
    app.include_router(_predict_router(runtime, guard))
    app.include_router(_feedback_router(runtime, guard))
    app.include_router(_operations_router(runtime))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _predict_router(runtime: ServingRuntime, guard: FeedbackGuard) -> APIRouter:
    """``/v1/predict`` and ``/v1/predict/batch``: answer, remember the request for its feedback, log the answer."""
    router, config = APIRouter(), runtime.config

    def not_ready(request_id: str, exc: Exception) -> Response:
        return _json({"error": str(exc)}, 503, **{"x-request-id": request_id})

    @router.post("/v1/predict", response_model=PredictResponse, responses={**GUARDED, **NOT_READY}, tags=["predict"],
                 summary="Predict one input")
    async def predict(body: PredictRequest, request: Request) -> Response:
        started = time.perf_counter()
        request_id = body.request_id or request.state.request_id
        item = Input(text=body.text, system_prompt=body.system_prompt, context=body.context)
        try:
            served, (output,) = await runtime.predict([item])
        except ModelNotReady as exc:
            return not_ready(request_id, exc)
        latency_ms = (time.perf_counter() - started) * 1000
        guard.remember(request_id, len(item.text))
        runtime.log_answers(served, [Answered(request_id, item, output, body.metadata)], latency_ms)
        payload = {"request_id": request_id, "model": _model(served), "prediction": output, "latency_ms": latency_ms}
        return _json(payload, **{"x-request-id": request_id, "x-model-version": served.version})

    @router.post("/v1/predict/batch", response_model=BatchPredictResponse, responses={**GUARDED, **NOT_READY},
                 tags=["predict"],
                 summary="Predict many inputs with one model version")
    async def predict_batch(body: BatchPredictRequest, request: Request) -> Response:
        started = time.perf_counter()
        batch_id = body.request_id or request.state.request_id
        if len(body.inputs) > config.max_batch_request:
            return _json({"error": f"{len(body.inputs)} inputs; at most {config.max_batch_request} per batch request"},
                         413, **{"x-request-id": batch_id})
        ids = [item.request_id or f"{batch_id}-{i}" for i, item in enumerate(body.inputs)]
        items = [Input(text=i.text, system_prompt=i.system_prompt, context=i.context) for i in body.inputs]
        try:
            served, outputs = await runtime.predict(items)
        except ModelNotReady as exc:
            return not_ready(batch_id, exc)
        latency_ms = (time.perf_counter() - started) * 1000
        for rid, item in zip(ids, items, strict=True):
            guard.remember(rid, len(item.text))
        runtime.log_answers(
            served,
            [Answered(rid, item, output, body.metadata) for rid, item, output in zip(ids, items, outputs, strict=True)],
            latency_ms,
        )
        payload = {
            "request_id": batch_id,
            "model": _model(served),
            "results": [{"request_id": rid, "prediction": output} for rid, output in zip(ids, outputs, strict=True)],
            "latency_ms": latency_ms,
        }
        return _json(payload, **{"x-request-id": batch_id, "x-model-version": served.version})

    return router


def _feedback_router(runtime: ServingRuntime, guard: FeedbackGuard) -> APIRouter:
    """``/v1/feedback``: a label or verdict for an earlier request, checked by ``guard`` and published."""
    router, config = APIRouter(), runtime.config

    @router.post("/v1/feedback", status_code=202, response_model=FeedbackResponse, tags=["feedback"],
                 responses={**GUARDED, **RATE_LIMITED,
                            200: {"model": FeedbackResponse, "description": "A duplicate: not published again"},
                            503: {"model": ErrorBody, "description": "Feedback cannot be taken (no Kafka, queue full, "
                                  "no model loaded to check it against)"}},
                 summary="A label or verdict for an earlier request (published to the labels topic)")
    async def feedback(body: FeedbackRequest, request: Request) -> Response:
        headers = {"x-request-id": body.request_id}
        if f"feedback:{body.source}" not in request.state.scopes:
            return _json({"error": f"this API key may not send feedback of source {body.source!r}"}, 403, **headers)
        try:
            fresh = guard.check(body, runtime.slot.current)
        except FeedbackRefused as exc:
            if exc.retry_after is not None:
                headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
            return _json({"error": exc.message}, exc.status, **headers)
        if not fresh:
            return _json({"request_id": body.request_id, "event_id": None, "status": "duplicate"}, 200, **headers)
        label = feedback_label(
            request_id=body.request_id, model=config.model, source=body.source, expected=_expected(body),
            verdict=body.verdict, reason=body.reason, judge=body.judge, metadata=body.metadata,
            version=body.model_version,
        )
        if runtime.shipper is None:
            return _json({"error": "this server runs without Kafka; feedback cannot be published"}, 503, **headers)
        if not runtime.emit(label):
            return _json({"error": "the event queue is full; retry later"}, 503, **headers)
        guard.accepted(body)
        return _json({"request_id": body.request_id, "event_id": label.event_id, "status": "accepted"}, 202, **headers)

    return router


def _operations_router(runtime: ServingRuntime) -> APIRouter:
    """Liveness, readiness and metrics."""
    router = APIRouter()

    @router.get("/healthz", response_model=Health, tags=["operations"], responses=BAD_REQUEST_ID, summary="Liveness")
    async def healthz() -> Response:
        return _json({"status": "alive"})

    @router.get("/readyz", response_model=Readiness, tags=["operations"],
                responses={**BAD_REQUEST_ID, 503: {"model": Readiness, "description": "No model is loaded yet"}},
                summary="Readiness: a model serves; says whether Kafka is reachable")
    async def readyz() -> Response:
        body = _readiness(runtime)
        return _json(body, 200 if body["ready"] else 503)

    @router.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response,
                responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                "description": "Prometheus text exposition format"},
                          **{k: GUARDED[k] for k in (400, 401, 403)}})
    async def metrics() -> Response:
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def _readiness(runtime: ServingRuntime) -> dict[str, Any]:
    """What ``/readyz`` answers: the model served, the release follower, the broker and the log shipper."""
    served = runtime.slot.current
    shipper, follower = runtime.shipper, runtime.follower
    state = None if shipper is None else shipper.state()
    return {
        "ready": served is not None,
        "model": runtime.config.model,
        "alias": runtime.config.alias,
        "version": None if served is None else served.version,
        "task": None if served is None else served.task,
        "loading": runtime.swapper.loading,
        "last_swap_error": runtime.swapper.last_error,
        "releases": {
            "following": follower is not None,
            "caught_up": None if follower is None else follower.caught_up,
            "error": None if follower is None else follower.last_error,
        },
        "broker": {
            "configured": runtime.kafka is not None,
            "reachable": None if state is None else state.broker_up,
            "error": None if state is None else state.last_error,
        },
        "logging": {
            "enabled": shipper is not None,
            "queued": 0 if state is None else state.queued,
            "in_flight": 0 if state is None else state.in_flight,
            "spilled": 0 if state is None else state.spill_records,
            "spilled_bytes": 0 if state is None else state.spill_bytes,
        },
    }


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's description, plus the streamed chunk's schema, less the 422 FastAPI assumes for a path
    parameter that cannot fail validation (``/v1/models/{model}`` takes any name)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, description=app.description,
                             routes=app.routes)
        chunk = ChatCompletionChunk.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(chunk.pop("$defs", {}))
        components["ChatCompletionChunk"] = chunk
        schema["paths"]["/v1/models/{model}"]["get"]["responses"].pop("422", None)
        app.openapi_schema = schema
    return app.openapi_schema
