"""A public website's faults, for real (issue 12): every path behind the same limits, closed Gradio
routes, slow senders, a hung index server, a vanished index folder, an unwritable data folder,
a full disk during ingest. Real servers on loopback, real HTTP, real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.answer.answering import CAVEAT
from assistant.errors import IndexUnreachableError
from assistant.settings import PROJECT_ROOT, Settings
from tests.conftest import CORPUS, chroma_server_process
from tests.web_support import request, request_json, serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def embedder():
    from assistant.embeddings import get_embedder

    model = get_embedder(Settings.from_env({}))
    model.warm_up()
    return model


def _ingest(settings, embedder):
    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest

    return run_ingest(settings, embedder, ChromaIndex(open_client(settings), settings.collection), progress=False)


@pytest.fixture(scope="module")
def folder_settings(tmp_path_factory, embedder):
    settings = Settings.from_env({}, corpus_dir=CORPUS, data_dir=tmp_path_factory.mktemp("hard") / "data",
                                 rate_limit=3, body_timeout=1.0)
    _ingest(settings, embedder)
    return settings


@pytest.fixture(scope="module")
def limited(folder_settings, embedder, tmp_path_factory):
    with serving(folder_settings, embedder, tmp_path_factory.mktemp("fb") / "f.sqlite3") as info:
        yield info


def _gradio_call(url, question, headers=None):
    return request(url + "/gradio_api/call/chat", method="POST", body={"data": [question]}, headers=headers)


def test_gradio_paths_share_the_rate_limit(limited):
    codes = [_gradio_call(limited["url"], "is it permanent?")[0] for _ in range(2)]
    codes += [request(limited["url"] + "/api/search?q=acne")[0] for _ in range(2)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    status, headers, body = _gradio_call(limited["url"], "is it permanent?")
    assert status == 429 and json.loads(body)["error"].startswith("too many requests")
    assert int({k.lower(): v for k, v in headers.items()}["retry-after"]) >= 1
    # A forwarded address from a client that is not a configured proxy changes nothing.
    status, _, _ = request(limited["url"] + "/api/search?q=acne", headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 429
    assert request(limited["url"] + "/widget.js")[0] == 200  # pages and scripts are not counted


def test_staff_pages_have_a_budget_of_their_own(folder_settings, embedder, tmp_path):
    settings = replace(folder_settings, rate_limit=2, staff_rate_limit=4)
    with serving(settings, embedder, tmp_path / "f.sqlite3") as info:
        public = [request(info["url"] + "/api/search?q=acne")[0] for _ in range(3)]
        staff = [request(info["url"] + "/api/staff/search?q=acne")[0] for _ in range(5)]
    assert public == [200, 200, 429]
    # Not signed in: refused by the console (401), counted on the staff budget, not the public one.
    assert staff[:4] == [401] * 4 and staff[4] == 429


def test_forwarded_addresses_count_only_from_configured_proxies(folder_settings, embedder, tmp_path):
    settings = replace(folder_settings, rate_limit=2, forwarded_allow_ips="127.0.0.1")
    with serving(settings, embedder, tmp_path / "f.sqlite3") as info:
        first = [request(info["url"] + "/api/search?q=acne", headers={"X-Forwarded-For": "203.0.113.1"})[0]
                 for _ in range(3)]
        second = request(info["url"] + "/api/search?q=acne", headers={"X-Forwarded-For": "203.0.113.2"})[0]
    assert first == [200, 200, 429] and second == 200  # behind the proxy, each visitor has a bucket


@pytest.mark.parametrize("path", [
    "/gradio_api/upload", "/gradio_api/upload?upload_id=x", "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=https://example.com/", "/gradio_api/proxy=https://example.com/", "/gradio_api/dev/reload",
    "//gradio_api//upload", "/gradio_api/run/chat",
])
def test_routes_a_public_site_must_not_expose_are_closed(folder_settings, embedder, tmp_path, path):
    with serving(replace(folder_settings, rate_limit=0), embedder, tmp_path / "f.sqlite3") as info:
        get_status = request(info["url"] + path)[0]
        post_status, _, body = request(info["url"] + path, method="POST", raw=b"x" * 1000,
                                       headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert get_status in (404, 405) and post_status in (404, 405), (get_status, post_status)
    assert b"passwd" not in body and b"root:" not in body


def test_a_100_kb_question_is_refused_on_every_path(folder_settings, embedder, tmp_path):
    big = "is it permanent? " * 6000  # about 100 KB
    with serving(replace(folder_settings, rate_limit=0), embedder, tmp_path / "f.sqlite3") as info:
        started = time.monotonic()
        for path, body in (("/api/ask", {"question": big}), ("/api/ask/stream", {"question": big}),
                           ("/gradio_api/call/chat", {"data": [big]}),
                           ("/gradio_api/queue/join", {"data": [big], "fn_index": 0, "session_hash": "x"})):
            status, data = request_json(info["url"] + path, method="POST", body=body, timeout=10)
            assert status == 413 and "too large" in data["error"], path
        # Under the body limit but over the question limit: answered "invalid", stored only in part.
        status, data = request_json(info["url"] + "/api/ask", method="POST", body={"question": "x" * 3000})
        assert status == 400 and data["status"] == "invalid" and data["caveat"] == CAVEAT
        assert time.monotonic() - started < 30  # a bound on work, far above the ~0.1 s it takes


def test_a_slow_body_is_cut_off(folder_settings, embedder, tmp_path):
    with serving(replace(folder_settings, rate_limit=0), embedder, tmp_path / "f.sqlite3") as info:
        host, port = info["url"].removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"question\":")
            reply = conn.recv(4096)
    assert reply.startswith(b"HTTP/1.1 408") and b"not received within" in reply


def test_votes_are_counted_once_per_visitor_and_answer(folder_settings, embedder, tmp_path):
    with serving(replace(folder_settings, rate_limit=0), embedder, tmp_path / "f.sqlite3") as info:
        _, answer = request_json(info["url"] + "/api/ask", method="POST", body={"question": "is it permanent?"})
        for vote in ["down"] * 20 + ["up"]:
            status, _ = request_json(info["url"] + "/api/feedback", method="POST",
                                     body={"answer_id": answer["answer_id"], "vote": vote, "channel": "widget"})
            assert status == 201
        assert [(v["vote"], v["channel"]) for v in info["feedback"].votes()] == [("up", "widget")]


def test_pages_carry_a_content_security_policy_and_docs_need_no_cdn(limited):
    for path in ("/", "/docs", "/examples/widget.html"):
        status, headers, body = request(limited["url"] + path)
        headers = {k.lower(): v for k, v in headers.items()}
        policy = headers["content-security-policy"]
        nonce = policy.split("'nonce-")[1].split("'")[0]
        assert status == 200 and "default-src 'self'" in policy and "frame-ancestors 'self'" in policy, path
        inline = [tag for tag in body.split(b"<script")[1:] if b"src=" not in tag.split(b">")[0]]
        assert all(f'nonce="{nonce}"'.encode() in tag.split(b">")[0] for tag in inline), path
        assert b"cdn.jsdelivr" not in body and b"unpkg.com" not in body, path
    assert request(limited["url"] + "/static-offline-docs/swagger-ui-bundle.js")[0] == 200
    assert "server" not in {k.lower() for k in request(limited["url"] + "/healthz")[1]}


def test_an_unwritable_data_folder_still_answers(folder_settings, embedder, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")  # root ignores permissions
    with serving(replace(folder_settings, rate_limit=0), embedder, blocker / "f.sqlite3") as info:
        for _ in range(5):
            status, data = request_json(info["url"] + "/api/ask", method="POST", body={"question": "is it permanent?"})
            assert status == 200 and data["status"] == "answered"
        status, health = request_json(info["url"] + "/healthz")
    assert status == 200 and health["index"]["ok"] and health["feedback"]["ok"] is False


def test_a_vanished_index_is_noticed_and_a_new_one_followed(tmp_path, embedder):
    settings = Settings.from_env({}, corpus_dir=CORPUS, data_dir=tmp_path / "data", rate_limit=0)
    _ingest(settings, embedder)
    with serving(settings, embedder, tmp_path / "f.sqlite3") as info:
        _, before = request_json(info["url"] + "/healthz")
        shutil.rmtree(settings.data_dir / "chroma")
        status, health = request_json(info["url"] + "/healthz")
        assert status == 503 and health["index"] == {"ok": False, "serving": True, "error": "the index cannot be read"}
        assert str(tmp_path) not in json.dumps(health)  # no server path in a public reply
        status, data = request_json(info["url"] + "/api/ask", method="POST", body={"question": "is it permanent?"})
        assert status == 200 and data["status"] == "answered"  # from the build in memory
        # Built again from scratch, in a new folder, by `python ingest.py` as an operator would.
        env = os.environ | {"CORPUS_DIR": str(CORPUS), "DATA_DIR": str(settings.data_dir)}
        rebuilt = subprocess.run([sys.executable, "ingest.py"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                                 text=True, timeout=600)
        assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
        time.sleep(2.5)  # the app looks at the store at most every 2 s
        status, after = request_json(info["url"] + "/healthz")
        assert status == 200 and after["index"]["ok"] and after["build"] != before["build"]


def test_a_hung_index_server_cannot_hang_the_site(tmp_path, embedder):
    with chroma_server_process(tmp_path) as chroma:
        settings = Settings.from_env({}, corpus_dir=CORPUS, data_dir=tmp_path / "data", rate_limit=0,
                                     chroma_host=chroma["host"], chroma_port=chroma["port"], index_timeout=2.0)
        _ingest(settings, embedder)
        with serving(settings, embedder, tmp_path / "f.sqlite3") as info:
            os.kill(chroma["process"].pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                status, health = request_json(info["url"] + "/healthz", timeout=15)
                assert status == 503 and health["index"]["ok"] is False
                assert request(info["url"] + "/widget.js", timeout=5)[0] == 200
                for _ in range(5):  # more than the answering slots: none stays held by the hung server
                    status, data = request_json(info["url"] + "/api/ask", method="POST",
                                                body={"question": "how many sessions?"}, timeout=15)
                    assert status == 503 and data["error"] == IndexUnreachableError.public
                    assert str(tmp_path) not in json.dumps(data) and chroma["host"] not in json.dumps(data)
                assert time.monotonic() - started < 60  # bounded by the timeouts, not by the server
            finally:
                os.kill(chroma["process"].pid, signal.SIGCONT)
            time.sleep(2.5)  # the next look at the store happens after the 2 s refresh
            assert request_json(info["url"] + "/healthz")[0] == 200
            status, data = request_json(info["url"] + "/api/ask", method="POST", body={"question": "how many sessions?"})
            assert status == 200 and data["status"] == "answered"
        # A new app cannot start on a hung server: it says so within the timeout.
        os.kill(chroma["process"].pid, signal.SIGSTOP)
        try:
            from assistant.index import open_client

            with pytest.raises(IndexUnreachableError, match="did not answer within 2 s"):
                open_client(settings)
        finally:
            os.kill(chroma["process"].pid, signal.SIGCONT)


def test_ingest_on_a_full_disk_exits_2_and_leaves_nothing_behind(tmp_path):
    """RLIMIT_FSIZE makes every file write past 300 KB fail, as a full disk does."""
    env = os.environ | {"CORPUS_DIR": str(CORPUS), "DATA_DIR": str(tmp_path / "data")}
    script = ("import resource, signal, sys\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))\n"
              "import ingest\n"
              "sys.exit(ingest.main([]))\n")
    full = subprocess.run([sys.executable, "-c", script], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=600)
    assert full.returncode == 2, full.stderr[-2000:]
    assert "Traceback" not in full.stderr and "disk may be full" in full.stderr
    again = subprocess.run([sys.executable, "ingest.py"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]  # no lock or half build left in the way
    from assistant.index import open_client

    names = sorted(c.name for c in open_client(Settings.from_env(env)).list_collections())
    assert not [n for n in names if "__ingest_lock__" in n]
    assert len([n for n in names if "__chunks__" in n]) == 1


def test_an_unexpected_fault_is_a_json_500_with_the_usual_headers(folder_settings, embedder, tmp_path):
    """Every fault found so far is fixed, so none can be reached with real input any more: the
    one fake here is an assistant whose ask raises (the rest of the app is real)."""
    from assistant.service import build_assistant

    settings = replace(folder_settings, rate_limit=0)
    real = build_assistant(settings, embedder=embedder)

    class Faulty:
        def __getattr__(self, name):
            return getattr(real, name)

        def ask(self, *args, **kwargs):
            raise RuntimeError(f"boom in {tmp_path}")

    with serving(settings, embedder, tmp_path / "f.sqlite3", assistant=Faulty()) as info:
        status, headers, body = request(info["url"] + "/api/ask", method="POST", body={"question": "is it permanent?"})
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 500 and json.loads(body) == {"error": "something went wrong on our side: please try again"}
    assert headers["x-content-type-options"] == "nosniff" and str(tmp_path).encode() not in body
