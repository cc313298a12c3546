"""Each Gradio session bound to the browser that first used it (ASGI middleware, inside the front door).

Gradio's page script names its session with ``Math.random`` (not a cryptographic generator), and
the name alone opens the session: its event stream (``queue/data``) carries the replies, and a
``queue/join`` under it runs the page's functions on that visitor's state. So a name someone has
learnt, guessed or predicted is refused unless the request comes from the same browser.

"The same browser" is an HttpOnly cookie of random bytes that every HTML page sets when the
browser has none: the page loads before its script, so every request of the script carries it.
A client that sends no cookie at all (the ``gradio_client`` package, a script) is known by its
address instead. The first request naming a session binds it; a later one from another owner
gets 403. Bindings are kept in memory (a bounded, expiring cache), like Gradio's own sessions.
"""

from __future__ import annotations

import json
import re
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from cachetools import TTLCache
from starlette.responses import JSONResponse

COOKIE = "chat_owner"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
_HEARTBEAT = re.compile(r"/gradio_api/heartbeat/([^/]+)")
# A session a browser keeps open all day; past the capacity the least recently named go first.
_KEEP_SECONDS = 24 * 3600
_CAPACITY = 50_000
_LONGEST = 128  # Gradio's own are 11 characters
REFUSAL = "this chat session belongs to another browser: reload the page to start a conversation of your own"


class SessionOwners:
    """ASGI middleware: ``app`` is the site; requests to Gradio that name a session are let through
    only from its owner, and HTML pages give a browser without one its owner cookie."""

    def __init__(self, app, capacity: int = _CAPACITY, keep_seconds: float = _KEEP_SECONDS) -> None:
        self.app = app
        self.owners: TTLCache[str, str] = TTLCache(maxsize=capacity, ttl=keep_seconds)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        token = _cookie(scope)
        if "/gradio_api/" in scope["path"]:
            session, receive = await _session_named(scope, receive)
            if session is not None:
                if len(session) > _LONGEST:
                    return await JSONResponse({"error": f"session_hash too long: at most {_LONGEST} characters"},
                                              status_code=400)(scope, receive, send)
                owner = f"browser {token}" if token else "address " + (scope.get("client") or ("unknown", 0))[0]
                bound = self.owners.setdefault(session, owner)
                if bound != owner:
                    return await JSONResponse({"error": REFUSAL}, status_code=403)(scope, receive, send)
                self.owners[session] = owner  # named again: kept for another day
        if token is None:
            send = _giving_cookie(send, secure=scope.get("scheme") == "https")
        return await self.app(scope, receive, send)


def _cookie(scope) -> str | None:
    """The request's owner token when it has a well-formed one."""
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            cookies = SimpleCookie()
            try:
                cookies.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header: as if there were none
                continue
            if COOKIE in cookies and _TOKEN.match(cookies[COOKIE].value):
                return cookies[COOKIE].value
    return None


async def _session_named(scope, receive):
    """The session a Gradio request names (in its path, query or JSON body) and the ``receive``
    to hand on (the body, read here, is replayed)."""
    heartbeat = _HEARTBEAT.search(scope["path"])
    if heartbeat:
        return heartbeat.group(1), receive
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("session_hash"):
        return query["session_hash"][0], receive
    if scope["method"] != "POST":
        return None, receive
    # The front door outside has bounded this body's size and the time it may take to arrive.
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None, _replaying([message], receive)
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    try:
        session = json.loads(body).get("session_hash")
    except (ValueError, AttributeError):  # not a JSON object: the route answers it
        session = None
    return (session if isinstance(session, str) else None), _replaying([{"type": "http.request", "body": body}], receive)


def _replaying(messages, receive):
    """``receive`` with ``messages`` (already read from it) given first."""
    pending = list(messages)

    async def replayed():
        return pending.pop(0) if pending else await receive()

    return replayed


def _giving_cookie(send, secure: bool):
    """``send`` that adds a new owner cookie to an HTML page's response."""
    attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")

    async def wrapped(message):
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            if kind.startswith(b"text/html"):
                token = secrets.token_urlsafe(24)
                headers.append((b"set-cookie", f"{COOKIE}={token}{attributes}".encode()))
                message = {**message, "headers": headers}
        await send(message)

    return wrapped
