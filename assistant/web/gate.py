"""The one front door every request goes through, the API's and Gradio's alike (ASGI middleware).

In order: Gradio routes a public site must not expose are closed; the per-client rate limit
(the `limits` package, a moving window) counts every request that asks for work; request bodies
are bounded in size and in the time they may take to arrive; answers computed at once are
bounded; every response gets the security headers, and every HTML page a Content-Security-Policy
whose nonce admits only the page's own scripts.

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

# Gradio routes a public chat page does not use: file upload and server-side fetching
# (`file=`, `proxy=`), the developer reload stream, run history, media streaming, custom
# components' server calls. Matched under any mount point.
_CLOSED = re.compile(r"/gradio_api/(?:upload|file[=/]|proxy=|dev/|runs?\b|run-history|stream/|component_server|mcp)")
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
        self.limiter = MovingWindowRateLimiter(MemoryStorage()) if self.limit else None
        self.answering = asyncio.Semaphore(settings.concurrency)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = re.sub(r"/{2,}", "/", scope["path"])
        send = _with_headers(send, api=path.startswith("/api/"))
        if _CLOSED.search(path):
            return await _error(scope, send, 404, "not found")
        if self.limiter is not None and _is_work(scope["method"], path):
            client = (scope.get("client") or ("unknown", 0))[0]
            limit, key = (self.staff_limit, "staff " + client) if _STAFF.match(path) else (self.limit, client)
            if not self.limiter.hit(limit, key):
                reset = self.limiter.get_window_stats(limit, key).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                return await _error(scope, send, 429, f"too many requests: try again in {wait} s",
                                    [(b"retry-after", str(wait).encode())])
        limit = self.upload_limit if path == _UPLOAD and scope["method"] == "POST" else self.body_limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _error(scope, send, 413, f"request body too large: send at most {limit} bytes")
        cut = _Cut(send)
        receive = self._bounded_receive(scope, receive, cut, limit)
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
    """Sends one error response in place of the app's, and drops what the app sends after it."""

    def __init__(self, send) -> None:
        self._send, self.done = send, False

    async def respond(self, scope, status: int, message: str) -> None:
        if not self.done:
            self.done = True
            await _error(scope, self._send, status, message)

    async def send(self, message) -> None:
        if not self.done:
            await self._send(message)


def _is_work(method: str, path: str) -> bool:
    if method == "POST":
        # The callback form's page posts outside /api/ (contact.py); it counts like the API's twin.
        return any(prefix in path for prefix in _WORK_PREFIXES) or path == "/contact"
    return method == "GET" and _ANSWERING.match(path) is not None


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
