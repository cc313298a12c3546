"""Console accounts in DATA_DIR/users.toml: a name, a role and an argon2 hash of the password.

Hashing and verifying are argon2-cffi's (its default parameters, which follow RFC 9106's
recommendation); nothing here is hand-written crypto.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError

ROLES = ("staff", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_CHARS = 10


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str


class WatchedFile:
    """A file's parsed content, read again only when the file changes (so every worker and
    request sees an edit at once, without a restart); ``read()`` parses it; a missing file is {}."""

    def __init__(self, path: Path, read) -> None:
        self.path, self._read = path, read
        self._lock = threading.Lock()
        self._cache: tuple[int, dict] | None = None

    def get(self) -> dict:
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                return {}
            if self._cache is None or self._cache[0] != mtime:
                self._cache = (mtime, self._read())
            return dict(self._cache[1])


class UserStore:
    """The accounts file, re-read when it changes (a `user remove` takes effect without a restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = WatchedFile(path, self._read)

    def users(self) -> dict[str, User]:
        return self._file.get()

    def _read(self) -> dict[str, User]:
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{self.path} is not valid TOML ({exc}); fix it or remove it and add the "
                              "accounts again with `python -m assistant user add`.") from None
        users = {}
        for name, entry in data.get("users", {}).items():
            if isinstance(entry, dict) and entry.get("role") in ROLES and entry.get("password_hash"):
                users[name] = User(name, entry["role"], entry["password_hash"])
        return users

    def get(self, name: str) -> User | None:
        return self.users().get(name)

    def add(self, name: str, role: str, password: str) -> User:
        from argon2 import PasswordHasher

        if not _NAME.match(name):
            raise ConfigError(f"user name {name!r} may hold letters, digits, '.', '_', '@' and '-' "
                              "(up to 64), starting with a letter or digit")
        if role not in ROLES:
            raise ConfigError(f"role {role!r} must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD_CHARS:
            raise ConfigError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
        user = User(name, role, PasswordHasher().hash(password))
        users = self.users() | {name: user}
        self._write(users)
        return user

    def remove(self, name: str) -> bool:
        users = self.users()
        if users.pop(name, None) is None:
            return False
        self._write(users)
        return True

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is theirs, else None (the same work either way)."""
        from argon2 import PasswordHasher
        from argon2.exceptions import InvalidHashError, VerificationError

        hasher = PasswordHasher()
        user = self.get(name)
        try:
            # An unknown name still costs one hash, so timing does not tell which names exist.
            hasher.verify(user.password_hash if user else _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        return user

    def _write(self, users: dict[str, User]) -> None:
        import tomlkit

        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = ("# Console accounts: manage them with `python -m assistant user add|list|remove`.\n"
                + tomlkit.dumps({"users": {u.name: {"role": u.role, "password_hash": u.password_hash}
                                           for u in sorted(users.values(), key=lambda u: u.name)}}))
        tmp = self.path.with_suffix(".tmp")
        # Only the owner may read the hashes.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, self.path)


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    from argon2 import PasswordHasher

    if not _DUMMY:
        _DUMMY.append(PasswordHasher().hash("not a real password, only spends the time of a check"))
    return _DUMMY[0]


def users_path(settings) -> Path:
    return settings.data_dir / "users.toml"


def user_command(settings, args, stdin, stdout, getpass=None) -> int:
    """`python -m assistant user add NAME --role R [--password-stdin] | list | remove NAME`."""
    store = UserStore(users_path(settings))
    if args.user_command == "list":
        users = store.users()
        if not users:
            print(f"no accounts in {store.path}: add one with `python -m assistant user add NAME --role admin`",
                  file=stdout)
        for user in sorted(users.values(), key=lambda u: u.name):
            print(f"{user.name}\t{user.role}", file=stdout)
        return 0
    if args.user_command == "remove":
        if not store.remove(args.name):
            raise ConfigError(f"no account named {args.name!r}: `python -m assistant user list` shows them")
        ended = _end_sessions(settings, args.name)
        print(f"removed {args.name}{ended}", file=stdout)
        return 0
    if args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    else:
        if getpass is None:
            from getpass import getpass
        password = getpass(f"Password for {args.name}: ")
        if getpass(f"Password for {args.name} again: ") != password:
            raise ConfigError("the two passwords differ; run the command again")
    existed = store.get(args.name) is not None
    store.add(args.name, args.role, password)
    # A new password or role, or an account made again under an old name: no earlier session
    # of that name stays open.
    ended = _end_sessions(settings, args.name)
    print(f"{'updated' if existed else 'added'} {args.name} ({args.role}) in {store.path}{ended}", file=stdout)
    return 0


def _end_sessions(settings, name: str) -> str:
    from .sessions import session_store

    ended = session_store(settings).revoke_user(name)
    return f"; ended {ended} open session{'s' if ended != 1 else ''}" if ended else ""
