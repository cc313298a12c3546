"""Shared by the console tests: a served app on its own corpus copy and data folder, accounts made
with the real command, and an HTTP client that keeps the session cookie."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace

from assistant.settings import PROJECT_ROOT
from tests.conftest import CORPUS

PASSWORDS = {"admin": "admin password 1", "staff": "staff password 1"}


def console_settings(real_settings, tmp_path_factory, name: str):
    """The real settings on a private corpus copy and data folder (and, on a server, a collection of its own)."""
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(CORPUS, root / "corpus")
    return replace(real_settings, corpus_dir=root / "corpus", data_dir=root / "data", collection=name,
                   rate_limit=100_000)


def ingest(settings, embedder):
    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest

    return run_ingest(settings, embedder, ChromaIndex(open_client(settings), settings.collection), progress=False)


def add_user(settings, name: str, role: str, password: str) -> str:
    """`python -m assistant user add NAME --role ROLE --password-stdin`, run as a clinic would."""
    env = os.environ | {"DATA_DIR": str(settings.data_dir), "CORPUS_DIR": str(settings.corpus_dir)}
    done = subprocess.run([sys.executable, "-m", "assistant", "user", "add", name, "--role", role,
                           "--password-stdin"], input=password + "\n", capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


class Client:
    """HTTP with a cookie jar; no redirects followed, so a 303 is seen as it is."""

    def __init__(self, base: str, address: str | None = None) -> None:
        self.base = base
        # Sent as X-Forwarded-For, which uvicorn trusts from loopback: the client's address.
        self.headers = {"X-Forwarded-For": address} if address else {}
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def request(self, path, method="GET", data=None, headers=None, timeout=60):
        """(status, headers, text)."""
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=self.headers | (headers or {}))
        try:
            with self.opener.open(req, timeout=timeout) as resp:
                return resp.status, resp.headers, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read().decode("utf-8", "replace")

    def get(self, path, **kw):
        return self.request(path, **kw)

    def post_form(self, path, fields: dict, csrf=True, **kw):
        fields = dict(fields)
        if csrf:
            fields.setdefault("csrf_token", self.csrf())
        return self.request(path, "POST", urllib.parse.urlencode(fields).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"}, **kw)

    def csrf(self, path="/admin/login") -> str:
        """The session's CSRF token, as every console page carries it."""
        _, _, text = self.get(path)
        found = re.search(r'data-csrf="([^"]+)"', text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def sign_in(self, name, password, next_path="/admin"):
        return self.post_form("/admin/login", {"name": name, "password": password, "next": next_path})
