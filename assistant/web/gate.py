"""The one front door every request goes through, the API's and Gradio's alike (ASGI middleware).

In order: Gradio routes a public site must not expose are closed; per-client rate limits (the
`limits` package, a moving window) count every request, those that ask for work on a budget of
their own; request bodies are bounded in size and in the time they may take to arrive; streams
(Gradio's heartbeat and event streams) are bounded per client and ended when their client has
been idle; answers computed at once are bounded; every response gets the security headers, and
every HTML page a Content-Security-Policy whose nonce admits only the page's own scripts.

The client is the connecting address, or the address a proxy in FORWARDED_ALLOW_IPS forwarded
(uvicorn's ProxyHeadersMiddleware, applied in ``server.py``): a header from anyone else is ignored.
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
import secrets
import time

from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse

from .sockets import MAX_HEADER_BYTES

# Gradio routes a public chat page does not use: file upload and server-side fetching
# (`file=`, `proxy=`), the developer reload stream, run history, media streaming, custom
# components' server calls, the screen recorder's video processing (`process_recording`, which
# takes anonymous uploads: no page here has an audio or video component). Matched under any
# mount point.
_CLOSED = re.compile(r"/gradio_api/(?:upload|file[=/]|proxy=|dev/|runs?\b|run-history|stream/|component_server|mcp"
                     r"|process_recording)")
# Responses that stay open: Gradio's heartbeat (one per open page) and its event streams.
_STREAM = re.compile(r"/gradio_api/(?:heartbeat/|queue/data|call/.+/)")
# Requests that make the server work: every POST to the API or to Gradio, and the passage search.
_WORK_PREFIXES = ("/api/", "/gradio_api/")
_ANSWERING = re.compile(r"^/api/(?:staff/)?(?:ask|search)")
# Staff pages and API (behind the console's sign-in): a desk sends a request per change of its
# search box (44 for four typed questions, measured), so staff have a budget of their own.
_STAFF = re.compile(r"^/(?:desk/|api/staff/|admin/)")
# The console's document upload (admins only, checked inside) may send a whole document.
_UPLOAD = "/admin/documents"
_FORM_OVERHEAD = 64_000  # multipart boundaries and the form's other fields

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# Styles may be inline (Gradio's components set them at run time); scripts only from this server
# or with the page's nonce; nothing may frame the pages but this site.
_CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; media-src 'self' blob:; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'")
_SCRIPT_TAG = re.compile(rb"<script\b(?![^>]*\bnonce=)", re.IGNORECASE)
_MAX_PAGE_BYTES = 8 * 1024 * 1024  # an HTML page larger than this is sent without a nonce (and its scripts blocked)


class FrontDoor:
    """ASGI middleware around the whole app; ``settings`` gives the limits."""

    def __init__(self, app, settings) -> None:
        self.app = app
        self.body_limit = settings.max_body_bytes
        self.upload_limit = settings.max_upload_bytes + _FORM_OVERHEAD
        self.body_timeout = settings.body_timeout
        self.busy_timeout = settings.busy_timeout
        self.limit = parse_limit(f"{settings.rate_limit}/minute") if settings.rate_limit > 0 else None
        self.staff_limit = parse_limit(f"{settings.staff_rate_limit}/minute") if settings.rate_limit > 0 else None
        pages = settings.page_rate_limit or 10 * settings.rate_limit
        self.page_limit = parse_limit(f"{pages}/minute") if settings.rate_limit > 0 else None
        self.limiter = MovingWindowRateLimiter(MemoryStorage()) if self.limit else None
        self.answering = asyncio.Semaphore(settings.concurrency)
        self.streams = _Streams(settings.client_streams, settings.stream_idle_timeout)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = re.sub(r"/{2,}", "/", scope["path"])
        send = _with_headers(send, api=path.startswith("/api/"))
        if _CLOSED.search(path):
            return await _error(scope, send, 404, "not found")
        # Headers that arrived whole in one read (sockets.py stops those still coming past this).
        if _header_bytes(scope) > MAX_HEADER_BYTES:
            return await _error(scope, send, 431, f"request headers too large: send at most {MAX_HEADER_BYTES} bytes",
                                [_CLOSE])
        client = (scope.get("client") or ("unknown", 0))[0]
        work = _is_work(scope["method"], path)
        if work:
            self.streams.worked(client)
        if self.limiter is not None:
            if not work:  # pages, scripts, Gradio's config, info and heartbeat, /healthz
                limit, key = self.page_limit, "page " + client
            elif _STAFF.match(path):
                limit, key = self.staff_limit, "staff " + client
            else:
                limit, key = self.limit, client
            if not self.limiter.hit(limit, key):
                reset = self.limiter.get_window_stats(limit, key).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                return await _error(scope, send, 429, f"too many requests: try again in {wait} s",
                                    [(b"retry-after", str(wait).encode()), _CLOSE])
        limit = self.upload_limit if path == _UPLOAD and scope["method"] == "POST" else self.body_limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _error(scope, send, 413, f"request body too large: send at most {limit} bytes")
        cut = _Cut(send)
        receive = self._bounded_receive(scope, receive, cut, limit)
        if scope["method"] == "GET" and _STREAM.search(path):
            return await self._stream(scope, receive, cut, client)
        if _ANSWERING.match(path):
            try:
                await asyncio.wait_for(self.answering.acquire(), self.busy_timeout)
            except TimeoutError:
                return await _error(scope, send, 503, "the assistant is busy: try again in a few seconds",
                                    [(b"retry-after", b"5")])
            try:
                return await self.app(scope, receive, cut.send)
            finally:
                self.answering.release()
        return await self.app(scope, receive, cut.send)

    async def _stream(self, scope, receive, cut: "_Cut", client: str) -> None:
        """A response that stays open: refused past the client's share of streams, ended (the
        response finished, the app told the client left) once the client has asked for nothing
        for the idle time."""
        streams = self.streams
        if not streams.open(client):
            return await cut.respond(scope, 429, f"too many open streams from your address (at most "
                                                 f"{streams.per_client}): close some of this site's pages and "
                                                 "try again", [(b"retry-after", b"30"), _CLOSE])
        opened, ended = time.monotonic(), asyncio.Event()

        async def until_ended():
            while (wait := streams.idle_until(client, opened) - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await cut.finish(scope, 408, f"nothing asked for {streams.idle:g} s: the stream is closed")
            ended.set()

        async def receive_or_end():
            # The app waits here for the client to leave; an ended stream counts as gone.
            receiving, ending = asyncio.ensure_future(receive()), asyncio.ensure_future(ended.wait())
            try:
                await asyncio.wait((receiving, ending), return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when the app stops waiting (its response is done)
                receiving.cancel()
                ending.cancel()
            return receiving.result() if receiving.done() and not receiving.cancelled() else {"type": "http.disconnect"}

        watchdog = asyncio.create_task(until_ended())
        try:
            return await self.app(scope, receive_or_end, cut.send)
        finally:
            watchdog.cancel()
            streams.close(client)

    def _bounded_receive(self, scope, receive, cut: "_Cut", limit: int):
        """The request body, cut off past the size limit or the time limit: the error is sent at
        once and the app sees a disconnected client (frameworks turn exceptions here into a 400)."""
        received, deadline, complete = 0, time.monotonic() + self.body_timeout, False

        async def bounded():
            nonlocal received, complete
            if cut.done:
                return {"type": "http.disconnect"}
            if complete:  # after the body, receive() only waits for a disconnect: no limit on that
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                await cut.respond(scope, 408, f"request body not received within {self.body_timeout:g} s: "
                                              "send it at once")
                return {"type": "http.disconnect"}
            received += len(message.get("body", b""))
            if received > limit:
                await cut.respond(scope, 413, f"request body too large: send at most {limit} bytes")
                return {"type": "http.disconnect"}
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        return bounded


class _Cut:
    """Sends one error response in place of the app's (or ends the app's response), and drops
    what the app sends after it."""

    def __init__(self, send) -> None:
        self._send, self.done, self.started = send, False, False
        self._sending = asyncio.Lock()  # the app's messages and the cut-off never interleave

    async def respond(self, scope, status: int, message: str, headers=()) -> None:
        async with self._sending:
            if not self.done:
                self.done = True
                await _error(scope, self._send, status, message, headers)

    async def finish(self, scope, status: int, message: str) -> None:
        """End the response where it is, or send an error in its place if it has not started."""
        async with self._sending:
            if self.started and not self.done:
                self.done = True
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        await self.respond(scope, status, message)

    async def send(self, message) -> None:
        async with self._sending:
            if not self.done:
                self.started = self.started or message["type"] == "http.response.start"
                await self._send(message)


class _Streams:
    """Open streams per client address (at most ``per_client`` each), and when each client with
    one open last asked for work; a stream's client is idle ``idle`` s after the later of the two."""

    def __init__(self, per_client: int, idle: float) -> None:
        self.per_client, self.idle = per_client, idle
        self._open: dict[str, int] = {}
        self._worked: dict[str, float] = {}  # only for clients with a stream open: bounded by them

    def open(self, client: str) -> bool:
        if self._open.get(client, 0) >= self.per_client:
            return False
        self._open[client] = self._open.get(client, 0) + 1
        return True

    def close(self, client: str) -> None:
        self._open[client] -= 1
        if not self._open[client]:
            del self._open[client]
            self._worked.pop(client, None)

    def worked(self, client: str) -> None:
        if client in self._open:
            self._worked[client] = time.monotonic()

    def idle_until(self, client: str, opened: float) -> float:
        return max(opened, self._worked.get(client, 0.0)) + self.idle


def _header_bytes(scope) -> int:
    return (len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            + sum(len(k) + len(v) + 4 for k, v in scope.get("headers") or ()))


def _is_work(method: str, path: str) -> bool:
    if method == "POST":
        # The callback form's page posts outside /api/ (contact.py); it counts like the API's twin.
        return any(prefix in path for prefix in _WORK_PREFIXES) or path == "/contact"
    return method == "GET" and _ANSWERING.match(path) is not None


# Refusals close their connection, so a client that floods does not keep the socket.
_CLOSE = (b"connection", b"close")


async def _error(scope, send, status: int, message: str, headers=()) -> None:
    response = JSONResponse({"error": message}, status_code=status, headers={k.decode(): v.decode() for k, v in headers})
    await response(scope, _no_body, send)


async def _no_body():
    return {"type": "http.disconnect"}


def _with_headers(send, api: bool):
    """Security headers on every response (API answers are never cached); on HTML, a CSP with a
    fresh nonce on the page's scripts."""
    state: dict = {}

    async def wrapped(message):
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {k.lower() for k, _ in headers}
            headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
            content_type = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
            if content_type.startswith(b"text/html"):
                state["start"], state["body"] = message | {"headers": headers}, b""
                return  # sent with the body, once the nonce is in
            if b"cache-control" not in present and (api or message.get("status", 200) >= 400):
                headers.append((b"cache-control", b"no-store"))
            await send(message | {"headers": headers})
            return
        if message["type"] == "http.response.body" and "start" in state:
            state["body"] += message.get("body", b"")
            if message.get("more_body") and len(state["body"]) <= _MAX_PAGE_BYTES:
                return
            await _send_page(send, state.pop("start"), state.pop("body"), message.get("more_body", False))
            return
        await send(message)

    return wrapped


async def _send_page(send, start, body: bytes, more_body: bool) -> None:
    nonce = base64.b64encode(secrets.token_bytes(16)).decode()
    body = _SCRIPT_TAG.sub(f'<script nonce="{nonce}"'.encode(), body)
    headers = [(k, v) for k, v in start["headers"] if k.lower() not in (b"content-length", b"content-security-policy")]
    headers += [(b"content-security-policy", _CSP.format(nonce=nonce).encode())]
    if not more_body:
        headers.append((b"content-length", str(len(body)).encode()))
    await send(start | {"headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": more_body})
