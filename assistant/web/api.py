"""The JSON API and the website widget, served by FastAPI (the Gradio app is mounted beside them).

POST /api/ask, POST /api/ask/stream, GET /api/search, POST /api/feedback, GET /healthz, GET /widget.js,
GET /api/widget-config, GET /examples/widget.html; OpenAPI docs at /docs.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..answer.answering import INVALID, Answer
from ..errors import AssistantError
from .feedback import FeedbackStore, Vote
from .widget_config import widget_config

STATIC = Path(__file__).resolve().parent / "static"
MAX_HISTORY_TURNS = 20


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    history: list[StrictStr | dict[str, Any] | list[Any]] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer_id: StrictStr
    vote: Literal["up", "down"]


class RecentAnswers:
    """The last answers given, by id, so a vote names an answer rather than sending its data back."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[Answer, tuple[str, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, answer: Answer) -> str:
        answer_id = uuid.uuid4().hex
        with self._lock:
            self._items[answer_id] = (answer, tuple(c.chunk_id for c in answer.citations))
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return answer_id

    def get(self, answer_id: str):
        with self._lock:
            return self._items.get(answer_id)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 before it is read whole."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _too_large(self.limit, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(self.limit, send)


class _BodyTooLarge(Exception):
    pass


class RateLimit:
    """ASGI middleware: at most ``per_minute`` API requests per client address (token bucket);
    past that, 429 with Retry-After. Pages and the widget script are not counted."""

    def __init__(self, app, per_minute: int) -> None:
        self.app, self.rate = app, per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last time)
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/api/") or self.rate <= 0:
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("unknown", 0))[0]
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > 100_000:  # forget idle clients rather than grow forever
                self._buckets.clear()
        if allowed:
            return await self.app(scope, receive, send)
        wait = max(1, math.ceil((1.0 - tokens) / self.rate))
        response = JSONResponse({"error": f"too many requests: try again in {wait} s"}, status_code=429,
                                headers={"Retry-After": str(wait)})
        await response(scope, receive, send)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """ASGI middleware: the same safe headers on every response, pages and API alike."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in present]
                if scope["path"].startswith("/api/") and b"cache-control" not in present:
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, with_headers)


async def _too_large(limit: int, send) -> None:
    response = JSONResponse({"error": f"request body too large: send at most {limit} bytes"}, status_code=413)
    await response({"type": "http"}, None, send)


class SiteCORS(CORSMiddleware):
    """CORS whose allowlist is read on each request (``origins()``), so the console can change the
    widget's sites without a restart."""

    def __init__(self, app, origins, **options) -> None:
        super().__init__(app, allow_origins=(), **options)
        self.origins = origins

    def is_allowed_origin(self, origin: str) -> bool:
        return origin in self.origins()


def create_api(assistant, feedback: FeedbackStore) -> FastAPI:
    """The API around an ``Assistant``; CORS admits only ``settings.allowed_origins``."""
    settings = assistant.settings
    recent = RecentAnswers()
    app = FastAPI(title="Microneedling assistant API", version="1",
                  description="Grounded answers from the clinic's documents, with citations and a fixed caveat.")
    # Added innermost first: CORS ends up outermost, so even a 413 or 429 carries its headers.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RateLimit, per_minute=settings.rate_limit)
    app.add_middleware(SecurityHeaders)
    # What the widget shows and which sites may call the API; the console layers its saved values here.
    app.state.widget_config = lambda: widget_config(settings)
    app.state.allowed_origins = lambda: settings.origins
    app.add_middleware(SiteCORS, origins=lambda: app.state.allowed_origins(), allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type"], allow_credentials=False)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse({"error": "; ".join(problems)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        # Every API error reads {"error": ...}, including the framework's own (bad JSON bytes).
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(AssistantError)
    async def _not_ready(request: Request, exc: AssistantError):
        return JSONResponse({"error": str(exc)}, status_code=503)

    def answer_json(body: AskRequest) -> tuple[Answer, dict]:
        answer = assistant.ask(body.question, body.history)
        feedback.record_question(answer.question, answer.status)
        return answer, answer.to_json() | {"answer_id": recent.add(answer)}

    @app.post("/api/ask", summary="Answer a question", response_description="The CLI's --json object plus answer_id")
    def ask(body: AskRequest):
        answer, data = answer_json(body)
        if answer.status == INVALID:
            return JSONResponse(data | {"error": answer.answer}, status_code=400)
        return data

    @app.post("/api/ask/stream", summary="Answer a question, streamed as JSON lines",
              response_description='{"type": "delta", "text"} per sentence, then {"type": "done", ...the /api/ask object}')
    def ask_stream(body: AskRequest):
        answer, data = answer_json(body)
        done = data | {"type": "done"}
        if answer.status == INVALID:
            return JSONResponse(done | {"error": answer.answer}, status_code=400)

        def lines():
            # Sentences are sent only after the whole answer passed its checks: a language
            # model's raw tokens never reach the visitor.
            for piece in re.split(r"(?<=\])\s+", answer.answer):
                yield json.dumps({"type": "delta", "text": piece}, ensure_ascii=False) + "\n"
            yield json.dumps(done, ensure_ascii=False) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/api/search", summary="Ranked passages for a query")
    def search(q: str = Query(..., min_length=1, max_length=settings.max_question_chars),
               k: int = Query(5, ge=1, le=50)):
        if not q.strip():
            return JSONResponse({"error": "q: type something to search for"}, status_code=400)
        docs = assistant.lookup(q, k)
        return {"query": q, "results": [
            {"rank": d.metadata["rank"], "title": d.metadata["title"], "section": d.metadata["section"],
             "source": d.metadata["source"], "score": d.metadata["score"], "text": d.page_content} for d in docs]}

    @app.post("/api/feedback", summary="Vote on an answer", status_code=201)
    def vote(body: FeedbackRequest):
        found = recent.get(body.answer_id)
        if found is None:
            return JSONResponse({"error": "unknown or expired answer_id: vote on an answer from this server"},
                                status_code=404)
        answer, chunk_ids = found
        feedback.record_vote(Vote(answer.question, answer.status, chunk_ids, body.vote))
        return {"stored": True}

    @app.get("/healthz", summary="Whether the index is ready, and how big it is")
    def health():
        status = assistant.status()
        return JSONResponse(status, status_code=200 if status["ready"] else 503)

    @app.get("/widget.js", include_in_schema=False)
    def widget():
        return FileResponse(STATIC / "widget.js", media_type="text/javascript")

    @app.get("/api/widget-config", summary="What the website widget shows: title, greeting, colour, corner, "
             "starter questions, clinic phone")
    def widget_settings():
        return app.state.widget_config()

    @app.get("/examples/widget.html", include_in_schema=False)
    def example_page():
        return FileResponse(STATIC / "example.html", media_type="text/html")

    return app
