"""CSRF tokens, the login rate limit and the role guard on the staff-only paths, and the server's
signing secret (the /contact form's tokens). Sessions themselves are kept on the server: sessions.py.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable

from ...errors import ConfigError
from .accounts import UserStore

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# Path prefix -> the roles that may open it, the first matching prefix deciding. /desk is the
# front-desk page (Gradio, pages/desk.py), /api/staff the staff API and /admin/callbacks the
# patients' callback requests: all for every signed-in account; the rest of /admin for admins.
PROTECTED = (("/admin/callbacks", ("staff", "admin")), ("/admin", ("admin",)), ("/desk", ("staff", "admin")),
             ("/api/staff", ("staff", "admin")))
# Open under /admin: the sign-in form, sign-out and the console's own CSS and script.
OPEN = ("/admin/login", "/admin/logout", "/admin/static/")


def session_secret(data_dir: Path) -> str:
    """The signing secret, generated on first use and stored (owner-only) in the data folder."""
    path = data_dir / "console-secret"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret)
    return secret


def csrf_token(session) -> str:
    """The session's CSRF token, made on first use; every form and script sends it back."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session, sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent and secrets.compare_digest(expected, sent))


class LoginLimiter:
    """At most ``per_name`` attempts (e.g. "5/minute") per account name from one client address,
    and ``per_address`` per address, each counted on its own (moving window, the `limits`
    package, in memory). An account name tried past ``per_name`` from many addresses is slowed
    (each attempt waits ``NAME_DELAY`` seconds), never locked: a lock per name alone would let
    anyone lock the real administrator out with five wrong passwords a minute."""

    NAME_DELAY = 2.0

    def __init__(self, per_name: str, per_address: str) -> None:
        # Checked here, where it is used, not in Settings: importing `limits` takes a tenth of a
        # second that every command would pay.
        from limits import parse
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        try:
            self.per_name, self.per_address = parse(per_name), parse(per_address)
        except ValueError:
            raise ConfigError(f"LOGIN_RATE_LIMIT={per_name!r} and LOGIN_ADDRESS_RATE_LIMIT={per_address!r} must "
                              "read like '5/minute' or '20 per hour'. Fix the environment variable and start "
                              "again.") from None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def attempt(self, name: str, address: str) -> tuple[bool, float]:
        """Count one attempt: (allowed, seconds to wait before checking the password). Refused
        when this address is over its limit, for this name or for all names."""
        by_pair = self.limiter.hit(self.per_name, "login-pair", name.lower(), address)
        by_address = self.limiter.hit(self.per_address, "login-address", address)
        by_name = self.limiter.hit(self.per_name, "login-name", name.lower())
        return by_pair and by_address, 0.0 if by_name else self.NAME_DELAY


def required_roles(path: str) -> tuple[str, ...] | None:
    if path.startswith(OPEN):
        return None
    for prefix, roles in PROTECTED:
        if path == prefix or path.startswith(prefix + "/"):
            return roles
    return None


class RoleGuard:
    """ASGI middleware (inside ``sessions.ServerSessions``): the protected paths need a signed-in account of the
    right role, checked against the accounts file on every request, so a removed account or a
    changed role takes effect at once. Otherwise ``deny(scope, status, reason)`` answers:
    401 (no account configured, or not signed in) or 403 (wrong role)."""

    def __init__(self, app, users: UserStore, deny: Callable) -> None:
        self.app, self.users, self.deny = app, users, deny

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        roles = required_roles(scope["path"])
        if roles is None:
            return await self.app(scope, receive, send)
        session = scope.get("session") or {}
        accounts = self.users.users()
        user = accounts.get(session.get("user", ""))
        if not accounts:
            reason = "no_accounts"
        elif user is None:
            reason = "sign_in"
        elif user.role not in roles:
            reason = "role"
        else:
            scope["user"] = user
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        response = self.deny(scope, 403 if reason == "role" else 401, reason, user)
        await response(scope, receive, send)
