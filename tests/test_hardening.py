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


# Issue 21: open streams, slow headers, every anonymous route limited, votes, Gradio's faults.

def _address(info):
    host, port = info["url"].removeprefix("http://").split(":")
    return host, int(port)


def _send(info, raw: bytes, source="127.0.0.1"):
    """A socket from ``source`` (any 127.x address is this machine) that has sent ``raw``."""
    conn = socket.create_connection(_address(info), timeout=10, source_address=(source, 0))
    conn.sendall(raw)
    return conn


def _status(conn) -> int:
    head = conn.recv(4096)
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0


def _get(info, path, source="127.0.0.1", timeout=10):
    """(status, body) of a GET sent from ``source``, on a connection of its own."""
    with _send(info, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(), source) as conn:
        conn.settimeout(timeout)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_open_streams_are_capped_per_client_and_health_stays_answered(folder_settings, embedder, tmp_path):
    """200 anonymous heartbeats to random sessions took every connection (the health check then
    got 503): one address now holds at most CLIENT_STREAMS, the rest are refused and let go."""
    settings = replace(folder_settings, rate_limit=0, client_streams=5, max_connections=40)
    with serving(settings, embedder, tmp_path / "f.sqlite3") as info:
        streams = [_send(info, f"GET /gradio_api/heartbeat/{i:032x} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                   for i in range(60)]
        try:
            statuses = [_status(conn) for conn in streams]
            health = [_get(info, "/healthz")[0] for _ in range(10)]
            other_page = _get(info, "/widget.js")[0]
        finally:
            for conn in streams:
                conn.close()
    assert statuses.count(200) == 5 and statuses.count(429) == 55, statuses
    assert health == [200] * 10 and other_page == 200


def test_a_stream_whose_client_asks_nothing_is_ended(folder_settings, embedder, tmp_path):
    settings = replace(folder_settings, rate_limit=0, stream_idle_timeout=2.0)
    with serving(settings, embedder, tmp_path / "f.sqlite3") as info:
        started = time.monotonic()
        with _send(info, b"GET /gradio_api/heartbeat/abc HTTP/1.1\r\nHost: x\r\n\r\n") as conn:
            conn.settimeout(15)
            data = b""
            while not data.endswith(b"0\r\n\r\n"):  # the last chunk of a finished response
                chunk = conn.recv(4096)
                assert chunk, data
                data += chunk
        lasted = time.monotonic() - started
        # A question from the same address keeps its streams open for the idle time again.
        with _send(info, b"GET /gradio_api/heartbeat/def HTTP/1.1\r\nHost: x\r\n\r\n") as conn:
            conn.settimeout(15)
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
            time.sleep(1.5)
            request(info["url"] + "/api/search?q=acne")
            time.sleep(1.5)  # past the idle time since the stream opened, not since the question
            conn.settimeout(0.2)
            with pytest.raises(TimeoutError):
                while b"0\r\n\r\n" not in conn.recv(4096):
                    pass
    assert data.startswith(b"HTTP/1.1 200") and b"ALIVE" in data and 1.8 < lasted < 6, (lasted, data[-200:])


def test_slow_headers_are_cut_off_and_one_address_cannot_take_every_socket(folder_settings, embedder, tmp_path):
    settings = replace(folder_settings, rate_limit=0, header_timeout=2.0, client_connections=10, max_connections=30)
    with serving(settings, embedder, tmp_path / "f.sqlite3") as info:
        slow = [_send(info, b"GET /healthz HTTP/1.1\r\nHo", source="127.0.0.3") for _ in range(40)]
        try:
            time.sleep(0.5)
            health = [_get(info, "/healthz")[0] for _ in range(10)]  # from another address
            page = _get(info, "/widget.js")[0]
            with _send(info, b"GET /widget.js HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 20_000 + b"\r\n\r\n") as big:
                too_big = big.recv(4096)
            started = time.monotonic()
            replies = [conn.recv(4096) for conn in slow]
            waited = time.monotonic() - started
        finally:
            for conn in slow:
                conn.close()
    assert health == [200] * 10 and page == 200
    assert too_big.startswith(b"HTTP/1.1 431") and b"request headers too large" in too_big
    refused = [r for r in replies if r.startswith(b"HTTP/1.1 429")]
    late = [r for r in replies if r.startswith(b"HTTP/1.1 408")]
    assert len(refused) == 30 and b"too many connections" in refused[0], replies[:3]
    assert len(late) == 10 and b"request headers not received within 2 s" in late[0]
    assert waited < 5


def test_the_health_check_is_answered_past_the_connection_limit(folder_settings, embedder, tmp_path):
    settings = replace(folder_settings, rate_limit=0, header_timeout=30.0, client_connections=5, max_connections=12)
    with serving(settings, embedder, tmp_path / "f.sqlite3") as info:
        # Twenty half-sent requests from four addresses, each within its share, fill the server.
        slow = [_send(info, b"GET /widget.js HTTP/1.1\r\nHo", source=f"127.0.0.{4 + i % 4}") for i in range(20)]
        try:
            time.sleep(0.5)
            page, _ = _get(info, "/widget.js")
            health, body = _get(info, "/healthz")
        finally:
            for conn in slow:
                conn.close()
    assert page == 503 and health == 200 and json.loads(body)["ready"] is True


def test_every_anonymous_route_is_rate_limited(folder_settings, embedder, tmp_path):
    settings = replace(folder_settings, rate_limit=2, page_rate_limit=6)
    with serving(settings, embedder, tmp_path / "f.sqlite3") as info:
        info_codes = [request(info["url"] + "/gradio_api/info")[0] for _ in range(4)]
        config = request(info["url"] + "/config")[0]
        with _send(info, b"GET /gradio_api/heartbeat/abc HTTP/1.1\r\nHost: x\r\n\r\n") as conn:
            beat = _status(conn)
        status, headers, body = request(info["url"] + "/gradio_api/info")
        heartbeat_after = _get(info, "/gradio_api/heartbeat/def")[0]
        # The budget for asking is apart: pages did not use it up.
        asked = request(info["url"] + "/api/search?q=acne")[0]
    assert info_codes == [200] * 4 and config == 200 and beat == 200
    assert status == 429 and json.loads(body)["error"].startswith("too many requests")
    assert int({k.lower(): v for k, v in headers.items()}["retry-after"]) >= 1
    assert heartbeat_after == 429 and asked == 200


@pytest.fixture(scope="module")
def unlimited(folder_settings, embedder, tmp_path_factory):
    with serving(replace(folder_settings, rate_limit=0), embedder, tmp_path_factory.mktemp("fb") / "f.sqlite3") as info:
        yield info


def test_gradio_routes_without_a_use_here_are_closed(unlimited):
    """process_recording took anonymous uploads (a 0-byte video got 200): no page here records."""
    body = b"--x\r\nContent-Disposition: form-data; name=\"video\"; filename=\"a.mp4\"\r\n\r\n\r\n--x--\r\n"
    for prefix in ("", "/desk"):
        status, _, reply = request(unlimited["url"] + prefix + "/gradio_api/process_recording", method="POST",
                                   raw=body, headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert status == 404 and json.loads(reply) == {"error": "not found"}


def _gradio_config(url):
    return request_json(url + "/config")[1]


def _gradio_event(url, api_name, data, session, event_data=None, headers=None):
    """One event of a Gradio page as its browser script sends it (queue/join, then the session's
    event stream); the completion message, or the stream's messages when it never came."""
    fn = next(d["id"] for d in _gradio_config(url)["dependencies"] if d.get("api_name") == api_name)
    status, joined = request_json(url + "/gradio_api/queue/join", method="POST", headers=headers,
                                  body={"data": data, "fn_index": fn, "session_hash": session, "event_data": event_data})
    assert status == 200, joined
    messages = []
    import urllib.request

    data_url = f"{url}/gradio_api/queue/data?session_hash={session}"
    with urllib.request.urlopen(urllib.request.Request(data_url, headers=headers or {}), timeout=30) as stream:
        for line in stream:
            if line.startswith(b"data:"):
                messages.append(json.loads(line[5:]))
                if messages[-1].get("msg") == "process_completed" and messages[-1].get("event_id") == joined["event_id"]:
                    return messages[-1]
    return messages


def test_an_unknown_gradio_function_is_a_json_400(unlimited):
    url = unlimited["url"]
    status, _, body = request(url + "/gradio_api/queue/join", method="POST",
                              body={"fn_index": 99, "data": [], "session_hash": "abc"})
    assert status == 400 and json.loads(body) == {"error": "the request names no function of this page"}
    status, _, body = request(url + "/gradio_api/call/nope", method="POST", body={"data": []})
    assert status == 400 and json.loads(body)["error"]


def test_a_lone_surrogate_does_not_break_the_chat(unlimited):
    session = "surrogate-session"
    first = _gradio_event(unlimited["url"], "submit", ["is it permanent? \ud800", None, None, ""], session)
    second = _gradio_event(unlimited["url"], "submit", ["how many sessions will I need?", None, None, ""], session)
    assert isinstance(first, dict) and first["success"], first
    shown = [m["content"][0]["text"] for m in first["output"]["data"][1]]
    assert "is it permanent? ?" in shown[0] and "not text" in shown[1]
    assert isinstance(second, dict) and second["success"], second
    replies = [m["content"][0]["text"] for m in second["output"]["data"][1]]
    assert len(replies) == 4 and "reply-answered" in replies[3]


def test_a_gradio_session_answers_only_the_browser_that_opened_it(unlimited):
    """Gradio names a session with Math.random, and the name alone read its replies and ran its
    functions: now each session is bound to the browser (an HttpOnly cookie every page sets) or,
    for a client that keeps no cookies, the address that first named it."""
    url = unlimited["url"]
    cookies = []
    for _ in range(2):
        status, headers, _ = request(url + "/")
        assert status == 200
        cookie = headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        cookies.append(cookie.split(";")[0])
    mine, theirs = ({"Cookie": c} for c in cookies)
    assert mine != theirs
    session = "a1b2c3d4e5f"
    done = _gradio_event(url, "submit", ["how many sessions will I need?", None, None, ""], session, headers=mine)
    assert isinstance(done, dict) and done["success"], done
    fn = next(d["id"] for d in _gradio_config(url)["dependencies"] if d.get("api_name") == "submit")
    join = {"data": ["is it permanent?", None, None, ""], "fn_index": fn, "session_hash": session}
    for other in (theirs, {}):  # another browser, or a client with no cookie (bound by address here)
        status, reply = request_json(url + "/gradio_api/queue/join", method="POST", body=join, headers=other)
        assert status == 403 and "another browser" in reply["error"]
        for path in (f"/gradio_api/queue/data?session_hash={session}", f"/gradio_api/heartbeat/{session}"):
            assert request(url + path, headers=other)[0] == 403
    assert request_json(url + "/gradio_api/queue/join", method="POST", body=join, headers=mine)[0] == 200
    # A page request that already carries a cookie is not given another.
    assert "set-cookie" not in {k.lower() for k in request(url + "/", headers=mine)[1]}


def test_new_sessions_or_answer_ids_do_not_add_votes(folder_settings, embedder, tmp_path):
    """15 down-votes on one answer came from 15 session ids: one visitor (address) has one vote
    per answer on every channel, whatever the session or answer ids."""
    with serving(replace(folder_settings, rate_limit=0), embedder, tmp_path / "f.sqlite3") as info:
        done = _gradio_event(info["url"], "submit", ["how many sessions will I need?", None, None, ""], "asker")
        shown = done["output"]["data"][1][-1]["content"][0]["text"]
        assert "reply-answered" in shown
        for i in range(15):
            vote = _gradio_event(info["url"], "on_vote", [], f"stuffer-{i}",
                                 {"index": [1, 0] if i % 2 else 1, "value": shown, "liked": False})
            assert isinstance(vote, dict) and vote["success"], vote
        chat_votes = [(v["vote"], v["channel"]) for v in info["feedback"].votes()]
        for _ in range(5):  # the API: the same question asked again gives a new answer_id each time
            _, answer = request_json(info["url"] + "/api/ask", method="POST",
                                     body={"question": "is it permanent?", "channel": "widget"})
            assert request_json(info["url"] + "/api/feedback", method="POST",
                                body={"answer_id": answer["answer_id"], "vote": "down", "channel": "widget"})[0] == 201
        votes = [(v["question"], v["vote"], v["channel"]) for v in info["feedback"].votes()]
    assert chat_votes == [("down", "chat")]
    assert votes == [("how many sessions will I need?", "down", "chat"), ("is it permanent?", "down", "widget")]


def test_csv_cells_behind_a_blank_are_not_run_as_formulas(folder_settings, embedder, tmp_path):
    """" =1+1" and "\n=1+1" were exported as they came: spreadsheets skip the blank and run the rest."""
    import csv
    import io

    from tests.console_support import PASSWORDS, Client, add_user

    settings = replace(folder_settings, rate_limit=0, data_dir=tmp_path / "data")
    shutil.copytree(folder_settings.data_dir, settings.data_dir)
    add_user(settings, "manager", "admin", PASSWORDS["admin"])
    questions = [' =HYPERLINK("http://x.example","price?")', "\n=1+1 what does it cost?", "  +SUM(1,2) what are the fees?",
                 "-2+3 how much for a session?"]
    with serving(settings, embedder, settings.data_dir / "feedback.sqlite3") as info:
        for question in questions:
            status, data = request_json(info["url"] + "/api/ask", method="POST", body={"question": question})
            assert status == 200 and data["status"] in ("out_of_scope", "closest"), data
        admin = Client(info["url"])
        assert admin.sign_in("manager", PASSWORDS["admin"])[0] == 303
        status, _, text = admin.get("/admin/insights.csv")
    assert status == 200
    cells = [r[key] for r in csv.DictReader(io.StringIO(text)) for key in ("question", "group")]
    assert set(cells) >= {"'" + q for q in questions}, cells
    assert all(c.startswith("'") for c in cells if c.strip()[:1] in "=+-@"), cells
