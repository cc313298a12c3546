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
    # Loopback is a trusted proxy here, so a test can play a client's address or an HTTPS request
    # with X-Forwarded-For / X-Forwarded-Proto.
    return replace(real_settings, corpus_dir=root / "corpus", data_dir=root / "data", collection=name,
                   rate_limit=100_000, forwarded_allow_ips="127.0.0.1")


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


def text_pdf(paragraphs: list[str]) -> bytes:
    """A one-page PDF of plain text in Helvetica, built by hand (a few PDF objects and the
    cross-reference table), so the test needs no PDF writer; pypdf reads its text back."""
    lines = []
    for paragraph in paragraphs:
        words, line = paragraph.split(), ""
        for word in words:
            if len(line) + len(word) > 85:
                lines.append(line)
                line = ""
            line = f"{line} {word}".strip()
        lines += [line, ""]
    escaped = [ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for ln in lines]
    stream = "BT /F1 11 Tf 14 TL 50 780 Td " + " ".join(f"({ln}) '" for ln in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream",
    ]
    return _pdf_file(objects)


def many_page_pdf(pages: int, text: str = "Avoid direct sun for a week after microneedling.") -> bytes:
    """A PDF of ``pages`` pages that all show one line of text (one shared content stream, so
    20,000 pages are 3.2 MB), built by hand as text_pdf is."""
    stream = f"BT /F1 11 Tf 50 780 Td ({text}) Tj ET"
    first_page = 5
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [" + " ".join(f"{first_page + i} 0 R" for i in range(pages)) + f"] /Count {pages} >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
    ] + ["<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Resources << /Font << /F1 3 0 R >> >> "
         "/Contents 4 0 R >>"] * pages
    return _pdf_file(objects)


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    """A multipart/form-data body (fields, and files as name -> (filename, bytes)) and its content type."""
    import uuid

    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
    for name, (filename, data) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def make_account(data_dir, name: str = "frontdesk", role: str = "staff") -> tuple[str, str]:
    """An account in the app's data folder (read on every request: no restart needed)."""
    from assistant.web.console.accounts import UserStore

    UserStore(data_dir / "users.toml").add(name, role, PASSWORDS[role])
    return name, PASSWORDS[role]


def sign_in_browser(driver, url: str, name: str, password: str, then: str = "/desk/") -> None:
    """Sign the browser in through the console's form; it then opens ``then``."""
    from selenium.webdriver.common.by import By

    from tests.web_support import wait

    driver.get(f"{url}/admin/login?next={then}")
    wait(driver, lambda d: d.find_elements(By.ID, "login-form"))
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    wait(driver, lambda d: not d.find_elements(By.ID, "login-form"))


def session_cookie(url: str, name: str, password: str) -> str:
    """A signed-in session's Cookie header, for clients other than a browser (gradio_client)."""
    client = Client(url)
    status, headers, _ = client.sign_in(name, password)
    assert status == 303, status
    return "; ".join(f"{c.name}={c.value}" for c in client.jar)


def _pdf_file(objects: list[str]) -> bytes:
    """A PDF file of ``objects`` (numbered from 1, the first the catalogue) with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
