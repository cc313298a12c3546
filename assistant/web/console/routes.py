"""The console's pages and the staff API, mounted on the FastAPI app before the Gradio pages."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from ...ingest.loading import PUBLIC
from ..api import AskRequest  # FastAPI reads the body model from this module's names
from .accounts import UserStore, users_path
from .documents import AUDIENCE_LABELS, UPLOAD_SUFFIXES, DocumentLibrary, IngestQueue, Refused
from .auth import CSRF_FIELD, CSRF_HEADER, LoginLimiter, RoleGuard, csrf_ok, csrf_token
from .sessions import ServerSessions, session_store

HERE = Path(__file__).resolve().parent


class CsrfRefused(Exception):
    """A change arrived without the session's CSRF token."""


class Console:
    """What the route handlers share: templates, accounts, the limiter and the app's services."""

    def __init__(self, assistant, feedback, settings) -> None:
        self.assistant, self.feedback, self.settings = assistant, feedback, settings
        self.users = UserStore(users_path(settings))
        self.limiter = LoginLimiter(settings.login_rate_limit, settings.login_address_rate_limit)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.library = DocumentLibrary(settings)
        # Password checks run here, off the event loop: each is an argon2 hash, 0.1-0.3 s of CPU and
        # 64 MB (argon2-cffi's defaults; cffi lets go of the GIL), so two at a time bound what a
        # burst of sign-ins costs, and they wait without holding a request thread.
        self.hashing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="console-password")
        self.queue = IngestQueue(assistant)

    def render(self, request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        context.setdefault("title", "Clinic console")
        flash = request.session.pop("flash", None) or {}
        for key in ("notice", "error"):
            context.setdefault(key, flash.get(key))
        context |= {"csrf": csrf_token(request.session), "user": request.scope.get("user")}
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        response.headers["cache-control"] = "no-store"
        return response

    def deny(self, scope, status: int, reason: str, user) -> HTMLResponse | JSONResponse:
        request = Request(scope)
        messages = {
            "no_accounts": "no console account exists yet: create one on the server with "
                           "`python -m assistant user add NAME --role admin`",
            "sign_in": "sign in first (POST /admin/login with a staff or admin account)",
            "role": f"this needs another role than {getattr(user, 'role', '')!r}",
        }
        if scope["path"].startswith("/api/"):
            return JSONResponse({"error": messages[reason]}, status_code=status)
        if reason == "no_accounts":
            return self.render(request, "setup.html", status, title="Create the first account",
                               users_file=str(self.users.path))
        if reason == "sign_in":
            target = scope["path"] + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
            return self.render(request, "login.html", status, title="Sign in", next=target)
        request.scope["user"] = user
        return self.render(request, "denied.html", status, title="Not allowed",
                           message="Your account's role does not open this page.", home="/desk")

    async def form(self, request: Request):
        """The posted form, after checking its CSRF token (form field or X-CSRF-Token header)."""
        form = await request.form()
        sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
        if not csrf_ok(request.session, sent if isinstance(sent, str) else None):
            raise CsrfRefused()
        return form

    def snapshot(self):
        """The serving index as it is now, or None before the first ingest."""
        from ...errors import IndexNotReadyError

        try:
            return self.assistant.reader.current()
        except IndexNotReadyError:
            return None

    def record(self, answer, channel: str) -> None:
        self.feedback.record_question(answer.question, answer.status, channel=channel)

    def check_header(self, request: Request) -> None:
        if not csrf_ok(request.session, request.headers.get(CSRF_HEADER)):
            raise CsrfRefused()


def _local(target: str | None, default: str) -> str:
    """Only a path on this site: never an absolute or protocol-relative address (open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


def install(app: FastAPI, assistant, feedback, settings) -> Console:
    console = Console(assistant, feedback, settings)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused):
        message = "the form's security token is missing or out of date: reload the page and try again"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=403)
        return console.render(request, "denied.html", 403, title="Not accepted", message=message, home="/admin")

    app.mount("/admin/static", StaticFiles(directory=str(HERE / "static")), name="console-static")

    @app.get("/admin/login", include_in_schema=False)
    def login_page(request: Request, next: str = "/admin"):
        if not console.users.users():
            return console.deny(request.scope, 401, "no_accounts", None)
        return console.render(request, "login.html", title="Sign in", next=_local(next, "/admin"))

    @app.post("/admin/login", include_in_schema=False)
    async def login(request: Request):
        form = await console.form(request)
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        target = _local(str(form.get("next", "")), "/admin")
        if not console.users.users():
            return console.deny(request.scope, 401, "no_accounts", None)
        address = (request.client.host if request.client else "unknown")
        allowed, delay = console.limiter.attempt(name, address)
        if not allowed:
            return console.render(request, "login.html", 429, title="Sign in", next=target, name=name,
                                  error="Too many sign-in attempts for this account or address: wait a minute "
                                        "and try again.")
        if delay:  # the name is tried from many addresses: slowed, not locked (the loop keeps serving)
            await asyncio.sleep(delay)
        user = await asyncio.get_running_loop().run_in_executor(console.hashing, console.users.verify, name,
                                                                password)
        if user is None:
            return console.render(request, "login.html", 401, title="Sign in", next=target, name=name,
                                  error="That account name and password do not match.")
        request.session.clear()  # a new session, under a new id, with a new CSRF token
        request.session["user"] = user.name
        csrf_token(request.session)
        if target == "/admin" and user.role != "admin":
            target = "/desk"
        return RedirectResponse(target, status_code=303)

    @app.post("/admin/logout", include_in_schema=False)
    async def logout(request: Request):
        await console.form(request)
        request.session.clear()  # the server's record goes with it: a copy of the cookie opens nothing
        return RedirectResponse("/admin/login", status_code=303)

    @app.get("/admin", include_in_schema=False)
    def admin_home():
        return RedirectResponse("/admin/documents", status_code=303)

    install_documents(app, console)
    install_insights(app, console)
    install_widget_settings(app, console)
    from .callbacks import install_callbacks

    install_callbacks(app, console)
    install_staff_api(app, console)
    from ..reading import install_reading

    # Public, but a staff-only document's page needs a signed-in account: it reads the session here.
    install_reading(app, assistant, console.users, settings)
    app.add_middleware(RoleGuard, users=console.users, deny=console.deny)
    app.add_middleware(ServerSessions, store=session_store(settings), users=console.users)
    return console


def install_staff_api(app: FastAPI, console: Console) -> None:
    """/api/staff/ask and /api/staff/search: the public API's answers with staff-only documents too."""
    from ...answer.answering import INVALID
    from ...ingest.loading import STAFF

    assistant, settings = console.assistant, console.settings

    @app.post("/api/staff/ask", summary="Answer a question from every document, staff-only ones too (signed in, "
                                         "X-CSRF-Token header)")
    def staff_ask(body: AskRequest, request: Request):
        console.check_header(request)
        answer = assistant.ask(body.question, body.history, audience=STAFF)
        console.record(answer, "desk")
        data = answer.to_json()
        if answer.status == INVALID:
            return JSONResponse(data | {"error": answer.answer}, status_code=400)
        return data

    @app.get("/api/staff/search", summary="Ranked passages from every document, staff-only ones too (signed in)")
    def staff_search(q: str = Query(..., min_length=1, max_length=settings.max_question_chars),
                     k: int = Query(5, ge=1, le=50)):
        if not q.strip():
            return JSONResponse({"error": "q: type something to search for"}, status_code=400)
        docs = assistant.lookup(q, k, audience=STAFF)
        return {"query": q, "results": [
            {"rank": d.metadata["rank"], "title": d.metadata["title"], "section": d.metadata["section"],
             "source": d.metadata["source"], "score": d.metadata["score"], "text": d.page_content} for d in docs]}


def install_documents(app: FastAPI, console: Console) -> None:
    library, queue = console.library, console.queue

    def page(request: Request, status: int = 200, **context):
        # The jobs before the documents: a job that ends meanwhile (reading a file waiting for the
        # index takes a worker's second) is still shown running, and the page reloads when it ends.
        jobs = queue.jobs()
        status_line = console.assistant.status()
        index_line = (f"{status_line['chunks']} passages from {status_line['files']} documents, built "
                      f"{status_line['ingested_at']}" if status_line["ready"] else "none yet")
        return console.render(request, "documents.html", status, title="Documents", page="documents",
                              docs=library.documents(console.snapshot()), jobs=jobs, index_line=index_line,
                              corpus=str(console.settings.corpus_dir), suffixes=UPLOAD_SUFFIXES,
                              limit=console.settings.max_upload_bytes, prefill_title=context.pop("prefill_title", ""),
                              labels=AUDIENCE_LABELS, **context)

    @app.get("/admin/documents", include_in_schema=False)
    def documents(request: Request, title: str = ""):
        # ?title= comes from an insights group's "add a document" link.
        return page(request, prefill_title=title[:200])

    @app.post("/admin/documents", include_in_schema=False)
    async def upload(request: Request):
        # Reading the file (in a worker process) and the documents page are waited for in a
        # thread, never on the event loop that serves every other request.
        limit = console.settings.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + 64_000:  # refused before the body is read
            return await run_in_threadpool(
                page, request, 413, error=f"The file is too large ({int(declared) / 1e6:.1f} MB; the limit is "
                                          f"{limit / 1e6:.1f} MB): keep only the text, or split it. Nothing was "
                                          "changed.")
        form = await console.form(request)
        upload = form.get("file")
        if upload is None or isinstance(upload, str) or not upload.filename:
            return await run_in_threadpool(page, request, 400, error="Choose a file to upload.")
        data = await upload.read(limit + 1)
        audience = _field(form, "audience")
        try:
            name = await run_in_threadpool(library.add, upload.filename, data, title=str(form.get("title", "")),
                                           origin=str(form.get("origin", "")), audience=audience,
                                           replace=form.get("replace") == "1")
        except Refused as exc:
            return await run_in_threadpool(page, request, 400, error=f"{exc}. Nothing was changed.")
        job = queue.submit(f"added {name}")
        who = ("patients and the front desk can use it" if audience == PUBLIC else
               "staff only: the front desk can use it, patients cannot until you open it and publish it")
        request.session["flash"] = {"notice": f"Added {name} ({who}); indexing it now (job {job.id})."}
        return RedirectResponse("/admin/documents", status_code=303)

    @app.get("/admin/jobs", include_in_schema=False)
    def jobs():
        return {"jobs": queue.jobs(), "idle": queue.idle()}

    @app.get("/admin/documents/{name:path}", include_in_schema=False)
    def document(request: Request, name: str):
        try:
            doc = library.get(name, console.snapshot())
            dropped, unreadable = library.explain(name)
        except Refused as exc:
            request.session["flash"] = {"error": str(exc)}
            return RedirectResponse("/admin/documents", status_code=303)
        return console.render(request, "document.html", title=doc.title or doc.name, page="documents", doc=doc,
                              dropped=dropped, unreadable=unreadable, labels=AUDIENCE_LABELS)

    _install_changes(app, console)


def _install_changes(app: FastAPI, console: Console) -> None:
    """Editing a document's entry and deleting it; each change queues an incremental ingest."""
    library, queue = console.library, console.queue

    @app.post("/admin/documents/{name:path}/edit", include_in_schema=False)
    async def edit(request: Request, name: str):
        form = await console.form(request)
        # The page's form has no audience (publishing is its own action); a client that sends
        # one has it checked and applied, and without one the audience stays as it is.
        audience = _field(form, "audience") if "audience" in form else None
        try:
            library.update(name, str(form.get("title", "")), str(form.get("origin", "")), audience)
        except Refused as exc:
            request.session["flash"] = {"error": f"{exc}. Nothing was changed."}
            return RedirectResponse("/admin/documents", status_code=303)
        job = queue.submit(f"edited {name}")
        request.session["flash"] = {"notice": f"Saved {name}; re-indexing (job {job.id})."}
        return RedirectResponse("/admin/documents", status_code=303)

    @app.post("/admin/documents/{name:path}/audience", include_in_schema=False)
    async def set_audience(request: Request, name: str):
        """Publish to patients (audience=public), or back to staff-only (audience=staff)."""
        form = await console.form(request)
        audience = _field(form, "audience")
        try:
            library.set_audience(name, audience)
        except Refused as exc:
            request.session["flash"] = {"error": f"{exc}. Nothing was changed."}
            return RedirectResponse("/admin/documents", status_code=303)
        job = queue.submit(f"{'published' if audience == PUBLIC else 'made staff-only'} {name}")
        done = ("Published {name} to patients: the chat page, the widget and the public API use it once "
                "re-indexed" if audience == PUBLIC else
                "{name} is staff-only again: patients no longer see it once re-indexed")
        request.session["flash"] = {"notice": done.format(name=name) + f" (job {job.id})."}
        return RedirectResponse("/admin/documents", status_code=303)

    @app.post("/admin/documents/{name:path}/delete", include_in_schema=False)
    async def delete(request: Request, name: str):
        await console.form(request)
        try:
            library.delete(name)
        except Refused as exc:
            request.session["flash"] = {"error": str(exc)}
            return RedirectResponse("/admin/documents", status_code=303)
        job = queue.submit(f"deleted {name}")
        request.session["flash"] = {"notice": f"Deleted {name}; removing it from the index (job {job.id})."}
        return RedirectResponse("/admin/documents", status_code=303)


def _field(form, name: str) -> str:
    """A text field of a posted form, "" when it is missing (a file part counts as missing)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def install_insights(app: FastAPI, console: Console) -> None:
    from fastapi.responses import Response

    from .insights import KINDS, group_items, passages_behind, read_items, to_csv, weekly_counts

    def groups():
        return group_items(read_items(console.feedback.path), console.assistant.embedder)

    @app.get("/admin/insights", include_in_schema=False)
    def insights(request: Request):
        items = read_items(console.feedback.path)
        groups = group_items(items, console.assistant.embedder)
        # The passages behind each group's down-votes, with their documents as the index holds them now.
        snapshot = console.snapshot()
        meta = snapshot.meta if snapshot is not None else {}
        return console.render(request, "insights.html", title="Insights", page="insights", groups=groups,
                              behind=[passages_behind(g, meta) for g in groups], weeks=weekly_counts(items),
                              kinds=KINDS)

    @app.get("/admin/insights.csv", include_in_schema=False)
    def insights_csv():
        return Response(to_csv(groups()), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="unanswered-and-voted-down.csv"', "Cache-Control": "no-store"})


def install_widget_settings(app: FastAPI, console: Console) -> None:
    from urllib.parse import urlencode

    from ...errors import ConfigError
    from .widget_settings import FIELDS, WidgetSettings

    store = WidgetSettings(console.settings)
    # The API's widget configuration and CORS allowlist now come from the saved values.
    app.state.widget_config = store.config
    app.state.allowed_origins = store.origins

    def page(request: Request, status: int = 200, values: dict | None = None, **context):
        form = store.form()
        if values:  # a refused save shows what was typed, not the stored values
            form.values.update({k: v for k, v in values.items() if k not in form.locked})
        base = str(request.base_url).rstrip("/")
        preview_values = {k: v for k, v in form.values.items() if k != "allowed_origins"}
        return console.render(request, "widget.html", status, title="Widget", page="widget", form=form,
                              snippet=f'<script src="{base}/widget.js" defer></script>',
                              preview="/admin/widget/preview?" + urlencode(preview_values), **context)

    @app.get("/admin/widget", include_in_schema=False)
    def widget(request: Request):
        return page(request)

    @app.post("/admin/widget", include_in_schema=False)
    async def save_widget(request: Request):
        form = await console.form(request)
        values = {k: str(form.get(k)) for k in FIELDS if form.get(k) is not None}
        try:
            store.save(values)
        except ConfigError as exc:
            return page(request, 400, values=values, error=f"Not saved: {exc}.")
        request.session["flash"] = {"notice": "Saved: the widget shows these settings from its next page load."}
        return RedirectResponse("/admin/widget", status_code=303)

    @app.get("/admin/widget/preview", include_in_schema=False)
    def preview(request: Request):
        """The real widget on a blank page, with the form's current values as data- attributes."""
        config = store.config()
        query = request.query_params
        for key in ("title", "greeting", "accent", "position", "phone", "contact_url"):
            if key in query:
                config[key] = query[key]
        if "starters" in query:
            config["starters"] = [q.strip() for q in query["starters"].replace("\r", "").split("\n")
                                  for q in q.split("|") if q.strip()]
        return console.templates.TemplateResponse(request, "widget_preview.html", {"c": config})
