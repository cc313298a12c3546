"""One ASGI app: the JSON API and widget (FastAPI) with the Gradio pages mounted beside them (the
patient chat at /, the front desk at /desk/) and the clinic console at /admin, behind one front
door (gate.py); and the uvicorn configuration it is served with."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from typing import Callable

from starlette.middleware.cors import CORSMiddleware

from ..settings import Settings


class SiteCORS(CORSMiddleware):
    """CORS whose allowlist is read on each request (``origins()``), so the console can change the
    widget's sites without a restart."""

    def __init__(self, app, origins, **options) -> None:
        super().__init__(app, allow_origins=(), **options)
        self.origins = origins

    def is_allowed_origin(self, origin: str) -> bool:
        return origin in self.origins()


def in_background(work: Callable[[], None], name: str) -> Callable[[], None]:
    """Start ``work()`` in a thread; the returned function waits for it and raises what it raised."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the caller by join()
            failed.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()

    def join() -> None:
        thread.join()
        if failed:
            raise failed[0]

    return join


class _GradioWithoutStubWriter(importlib.abc.MetaPathFinder):
    """Loads ``gradio.component_meta`` as usual, then turns its stub writer into a no-op.

    Gradio (6.31) checks, and rewrites when they differ, the type stubs (.pyi) of its components
    in site-packages on every import: each component class parses its module's source twice,
    0.8 s of the 1.9 s of CPU that `import gradio` takes here. Stubs are for editors; serving
    never reads them, and the components are the same classes.
    """

    name = "gradio.component_meta"

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _SkipStubs(spec.loader)
        return spec


class _SkipStubs(importlib.abc.Loader):
    def __init__(self, inner) -> None:
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:
        self.inner.exec_module(module)
        if hasattr(module, "create_or_modify_pyi"):
            module.create_or_modify_pyi = lambda *args, **kwargs: None


def import_gradio():
    """``import gradio``, without the stub writer (_GradioWithoutStubWriter) when this imports it first."""
    if "gradio" in sys.modules:
        return sys.modules["gradio"]
    finder = _GradioWithoutStubWriter()
    sys.meta_path.insert(0, finder)
    try:
        import gradio
    finally:
        sys.meta_path.remove(finder)
    return gradio


def create_web_app(settings: Settings, assistant=None, feedback=None):
    """Build (and warm up) everything the server needs; nothing listens until it is run."""
    from ..service import build_assistant

    assistant = assistant or build_assistant(settings)
    # The warm-up (ONNX Runtime session, index snapshot, every unit's word vectors) is mostly
    # native code that releases the GIL, and importing Gradio is pure Python: on two cores they
    # overlap. The pages are built only once the warm-up is done (or has failed: its error, an
    # AssistantError such as "no index", is raised here as before).
    warmed = in_background(assistant.warm_up, "warm-up")
    gr = import_gradio()
    from fastapi.responses import RedirectResponse
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from .api import create_api
    from .console import install_console
    from .contact import install_contact
    from .gate import FrontDoor
    from .gradio_sessions import SessionOwners
    from .pages import add_scripts, chat as chat_page, desk as desk_page

    warmed()
    # The personal-data recogniser (pii.py: 1.6 s, about 100 MB) loads once the model has: it keeps
    # torch out of sys.modules while it loads, which must not overlap a load that needs torch (the
    # reference model, when the ONNX export is missing). Not waited for: a question recorded
    # before it is ready waits for it, none is stored unredacted.
    from .. import pii

    in_background(pii.warm_up, "personal-data recogniser")
    feedback = feedback or settings.feedback_store()
    api = create_api(assistant, feedback)
    install_console(api, assistant, feedback, settings)  # before the Gradio pages claim "/"
    install_contact(api, feedback, settings)  # /contact and /api/contact: callback requests
    # api_open=False: Gradio's REST routes (/run/...) cannot skip the queue and its concurrency limit.
    queue = dict(default_concurrency_limit=settings.concurrency, api_open=False)
    # No file serving beyond Gradio's own assets, no uploads, no monitoring, no server-side rendering.
    mount = dict(show_error=False, enable_monitoring=False, ssr_mode=False, allowed_paths=[], footer_links=[],
                 max_file_size=0)
    # Each page is an app of its own, so the patient page carries nothing of the desk's (and the
    # desk has the console's sign-in). The desk is mounted first: the mount at / takes every path.
    # A mount answers only below its path: /desk itself is sent on to /desk/ (relative, so it
    # also works behind a proxy that serves the app under a prefix).
    api.add_api_route("/desk", lambda: RedirectResponse("desk/"), include_in_schema=False)
    add_scripts(api)
    # The pages show the widget's configuration as the console layers it over the environment,
    # read on each page load and reply (so a saved change needs no restart).
    state = api.state
    config = lambda: state.widget_config()  # noqa: E731
    desk = desk_page.build_desk_page(assistant, feedback, config).queue(**queue)
    api = gr.mount_gradio_app(api, desk, path="/desk", css=desk_page.CSS, head=desk_page.HEAD, **mount)
    chat = chat_page.build_chat_page(assistant, feedback, config).queue(**queue)
    app = gr.mount_gradio_app(api, chat, path="/", css=chat_page.CSS, head=chat_page.HEAD, **mount)
    for route in app.routes:
        if isinstance(getattr(route, "app", None), gr.routes.App):
            json_errors(route.app)
    # Inside the front door, whose limits come first: a Gradio session answers only its own browser.
    app = FrontDoor(SessionOwners(app), settings)
    # Outside the front door, so a 413 or 429 carries the CORS headers the widget needs to read it.
    # The allowlist is the console's saved sites over ALLOWED_ORIGINS, read per request.
    app = SiteCORS(app, origins=lambda: api.state.allowed_origins(), allow_methods=["GET", "POST"],
                   allow_headers=["Content-Type"], allow_credentials=False)
    # Forwarded client addresses are believed only from the configured proxies (none by default).
    return ProxyHeadersMiddleware(app, trusted_hosts=settings.proxies)


def json_errors(gradio_app) -> None:
    """A Gradio page's faults as the API's: {"error": ...} JSON, never Starlette's plain-text 500.
    A request naming a function or API the page does not have (``fn_index: 99``) is the
    client's mistake (400); anything else is logged and answered 500."""
    import logging

    from fastapi.responses import JSONResponse
    from gradio.route_utils import FnIndexInferError

    async def unknown(request, exc):
        return JSONResponse({"error": "the request names no function of this page"}, status_code=400)

    async def unexpected(request, exc):
        logging.getLogger(__name__).error("unexpected error on %s", request.url.path, exc_info=exc)
        return JSONResponse({"error": "something went wrong on our side: please try again"}, status_code=500)

    # The queue looks functions up by the client's index (a KeyError) or API name.
    gradio_app.add_exception_handler(KeyError, unknown)
    gradio_app.add_exception_handler(FnIndexInferError, unknown)
    gradio_app.add_exception_handler(Exception, unexpected)


def server_config(app, settings: Settings):
    """How `python app.py` (and the tests) serve the app with uvicorn."""
    import uvicorn

    from .sockets import guarded_protocol

    return uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning",
        # No access log: request lines carry search queries, which may hold contact details.
        access_log=False,
        # The proxy headers are handled in create_web_app, from FORWARDED_ALLOW_IPS only.
        proxy_headers=False, server_header=False,
        # Idle keep-alive connections are closed after 5 s; past this many open connections new
        # requests get 503 at once (never /healthz). Request headers must arrive within
        # HEADER_TIMEOUT and one address holds at most CLIENT_CONNECTIONS sockets (sockets.py),
        # so slow clients cannot take every socket.
        http=guarded_protocol(settings), timeout_keep_alive=5, limit_concurrency=settings.max_connections,
        h11_max_incomplete_event_size=16_384,
    )
