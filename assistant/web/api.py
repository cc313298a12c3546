"""The JSON API and the website widget, served by FastAPI (the Gradio app is mounted beside them).

POST /api/ask, POST /api/ask/stream, GET /api/search, POST /api/feedback, GET /healthz, GET /widget.js,
GET /api/widget-config, GET /examples/widget.html; OpenAPI docs at /docs.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from pathlib import Path
from typing import Any, Literal

from cachetools import LRUCache
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..answer.answering import INVALID, NOT_ANSWERED, Answer
from ..errors import AssistantError
from .feedback import FeedbackStore, Vote, answer_key
from .widget_config import widget_config

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger(__name__)
MAX_HISTORY_TURNS = 20


# Who is asking, for the clinic's report: the website widget says so; other programs are "api".
Channel = Literal["api", "widget"]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    history: list[StrictStr | dict[str, Any] | list[Any]] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)
    channel: Channel = "api"


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer_id: StrictStr = Field(max_length=64)
    vote: Literal["up", "down"]
    channel: Channel = "api"


class RecentAnswers:
    """The last answers given, by id, so a vote names an answer rather than sending its data back."""

    def __init__(self, size: int = 10_000) -> None:
        self._items: LRUCache[str, tuple[Answer, tuple[str, ...]]] = LRUCache(maxsize=size)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe on their own

    def add(self, answer: Answer) -> str:
        answer_id = uuid.uuid4().hex
        with self._lock:
            self._items[answer_id] = (answer, tuple(c.chunk_id for c in answer.citations))
        return answer_id

    def get(self, answer_id: str):
        with self._lock:
            return self._items.get(answer_id)


def create_api(assistant, feedback: FeedbackStore) -> FastAPI:
    """The API around an ``Assistant`` (limits, CORS and headers are the front door's: see server.py)."""
    settings = assistant.settings
    recent = RecentAnswers()
    # Swagger UI from the installed package, not a CDN: no internet at run time, nothing unpinned.
    app = FastAPIOffline(title="Microneedling assistant API", version="1", redoc_url=None,
                         description="Grounded answers from the clinic's documents, with citations and a fixed caveat.")
    # What the widget shows and which sites may call the API (server.py's CORS reads it per
    # request); the console layers its saved values over these.
    app.state.widget_config = lambda: widget_config(settings)
    app.state.allowed_origins = lambda: settings.origins
    _error_handlers(app)
    _answer_routes(app, assistant, feedback, recent)
    _site_routes(app, assistant, feedback)
    return app


def _error_handlers(app: FastAPI) -> None:
    """Every API error reads {"error": ...}; none names a server path."""

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
        # The operator's message (it may name folders) goes to the log; the visitor gets the public one.
        log.warning("%s", exc)
        return JSONResponse({"error": exc.public}, status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        # A fault no test has found yet: the trace goes to the log, the visitor gets the usual
        # shape (and, from the front door, the usual headers), never the trace.
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        return JSONResponse({"error": "something went wrong on our side: please try again"}, status_code=500)


def _answer_routes(app: FastAPI, assistant, feedback: FeedbackStore, recent: RecentAnswers) -> None:
    """Questions, passages and votes."""
    settings = assistant.settings

    def answer_json(body: AskRequest) -> tuple[Answer, dict]:
        answer = assistant.ask(body.question, body.history)
        feedback.record_question(answer.question, answer.status, channel=body.channel)
        data = answer.to_json() | {"answer_id": recent.add(answer)}
        if answer.status in NOT_ANSWERED:
            data["contact"] = contact()
        return answer, data

    def contact() -> dict:
        # A reply that is not an answer offers a way to a person. Read per request: the console
        # layers its saved phone and link over the environment's, with no restart.
        config = app.state.widget_config()
        return {"phone": config["phone"], "url": config["contact_url"]}

    @app.post("/api/ask", summary="Answer a question",
              response_description='The CLI\'s --json object plus answer_id; a reply that is not an answer '
              '(status "closest" or "out_of_scope") also has "contact": {"phone", "url"}, the clinic\'s number '
              'and booking or contact link ("" when not set); "alert" is {"kind", "message"} when a safety or '
              'crisis message is to be shown before the answer, else null')
    def ask(body: AskRequest):
        answer, data = answer_json(body)
        if answer.status == INVALID:
            return JSONResponse(data | {"error": answer.answer}, status_code=400)
        return data

    @app.post("/api/ask/stream", summary="Answer a question, streamed as JSON lines",
              response_description='{"type": "delta", "text"} per sentence, then {"type": "done", ...the /api/ask '
              'object, with "contact" when the reply is not an answer}')
    def ask_stream(body: AskRequest):
        answer, data = answer_json(body)
        done = data | {"type": "done"}
        if answer.status == INVALID:
            return JSONResponse(done | {"error": answer.answer}, status_code=400)

        def lines():
            # Sentences are sent only after the whole answer passed its checks: a language
            # model's raw tokens never reach the visitor. A safety message comes before the answer.
            if answer.alert is not None:
                yield json.dumps({"type": "delta", "text": answer.alert.message}, ensure_ascii=False) + "\n"
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

    @app.post("/api/feedback", summary="Vote on an answer (one vote per visitor and answer: a second one, or one on "
              "the same answer asked again, replaces the first)",
              status_code=201)
    def vote(body: FeedbackRequest, request: Request):
        found = recent.get(body.answer_id)
        if found is None:
            return JSONResponse({"error": "unknown or expired answer_id: vote on an answer from this server"},
                                status_code=404)
        answer, chunk_ids = found
        # One vote per client address and answer: asking again gives a new answer_id, not a new vote.
        voter = request.client.host if request.client else ""
        stored = feedback.record_vote(Vote(answer.question, answer.status, chunk_ids, body.vote,
                                           answer_id=answer_key(answer.question, chunk_ids), voter=voter,
                                           channel=body.channel,
                                           quotes=tuple(c.quote for c in answer.citations)))
        return {"stored": stored}


def _site_routes(app: FastAPI, assistant, feedback: FeedbackStore) -> None:
    """Health, the widget's script, its settings and the example page."""

    @app.get("/healthz", summary="Whether the index can be read and feedback stored, and what is served")
    def health():
        status = assistant.status()
        # Ready means the index answers now; a feedback store that cannot write is reported
        # but does not take the app out of service (answers are still sent).
        public = {k: v for k, v in status.items() if k != "index_error"}
        public["index"] = {"ok": status["ready"], "serving": status["serving"],
                           "error": "the index cannot be read" if status["index_error"] else ""}
        if status["index_error"]:
            log.warning("health: %s", status["index_error"])
        public["feedback"] = feedback.health()
        return JSONResponse(public, status_code=200 if status["ready"] else 503)

    @app.get("/widget.js", include_in_schema=False)
    def widget():
        return FileResponse(STATIC / "widget.js", media_type="text/javascript")

    @app.get("/api/widget-config", summary="What the website widget shows: title, greeting, colour, corner, "
             "starter questions, clinic phone and booking or contact link")
    def widget_settings():
        return app.state.widget_config()

    @app.get("/examples/widget.html", include_in_schema=False)
    def example_page():
        return FileResponse(STATIC / "example.html", media_type="text/html")
