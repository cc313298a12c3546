"""The web server for real: JSON API over HTTP, the Gradio endpoints, and a headless Chromium.

Screenshots of every browser test land in test-artifacts/, so a failure can be looked at.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace

import pytest

from assistant.answer.answering import CAVEAT
from assistant.settings import PROJECT_ROOT
from tests.conftest import free_port

pytestmark = pytest.mark.integration
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
ORIGIN = "http://clinic.example"



def _serve(settings, embedder, feedback_path):
    """Start the whole app (API + widget + Gradio) on a loopback port, as `python app.py` serves it."""
    import uvicorn

    from assistant.web.feedback import FeedbackStore
    from assistant.service import build_assistant
    from assistant.web.server import create_web_app

    feedback = FeedbackStore(feedback_path)
    app = create_web_app(settings, build_assistant(settings, embedder=embedder), feedback)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not srv.started and time.time() < deadline:
        time.sleep(0.1)
    return srv, thread, {"url": f"http://127.0.0.1:{port}", "feedback": feedback}


@pytest.fixture(scope="module")
def server(real_settings, real_embedder, real_index_report, tmp_path_factory):
    settings = replace(real_settings, allowed_origins=ORIGIN, max_body_bytes=4096, rate_limit=100_000)
    srv, thread, info = _serve(settings, real_embedder, tmp_path_factory.mktemp("feedback") / "f.sqlite3")
    yield info
    srv.should_exit = True
    thread.join(timeout=10)


def _request(url, method="GET", body=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _json(url, **kw):
    status, headers, body = _request(url, **kw)
    return status, json.loads(body)


# --- JSON API ---------------------------------------------------------------------------

def test_ask_returns_the_cli_contract(server):
    status, data = _json(server["url"] + "/api/ask", method="POST",
                         body={"question": "how many sessions for that?", "history": ["Does it help acne scars?"]})
    assert status == 200
    assert {"question", "status", "answer", "citations", "caveat", "latency_ms", "answerer", "answer_id"} == set(data)
    assert data["status"] == "answered" and data["caveat"] == CAVEAT
    assert [c["n"] for c in data["citations"]] == [int(n) for n in __import__("re").findall(r"\[(\d+)\]", data["answer"])]


def test_ask_stream_sends_sentences_then_the_whole_reply(server):
    status, headers, body = _request(server["url"] + "/api/ask/stream", method="POST",
                                     body={"question": "Is redness normal after microneedling?"})
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert status == 200 and headers.get("content-type", "").startswith("application/x-ndjson")
    deltas, done = lines[:-1], lines[-1]
    assert deltas and all(d["type"] == "delta" for d in deltas) and done["type"] == "done"
    assert " ".join(d["text"] for d in deltas) == done["answer"] and done["caveat"] == CAVEAT
    assert _json(server["url"] + "/api/ask/stream", method="POST", body={"question": ""})[0] == 400


@pytest.mark.parametrize("body, status, says", [
    ({}, 422, "question: Field required"),
    ({"question": 5}, 422, "question: Input should be a valid string"),
    ({"question": "ok", "history": "nope"}, 422, "history"),
    ({"question": "ok", "extra": 1}, 422, "extra: Extra inputs are not permitted"),
    ({"question": "   "}, 400, "Please type a question."),
    ({"question": "x" * 2000}, 400, "characters long"),
])
def test_bad_requests_get_a_clear_4xx(server, body, status, says):
    got, data = _json(server["url"] + "/api/ask", method="POST", body=body)
    assert got == status and says in data["error"]


def test_malformed_and_oversized_bodies(server):
    status, _, body = _request(server["url"] + "/api/ask", method="POST", raw=b"{not json")
    assert status == 422 and b"error" in body
    status, _, body = _request(server["url"] + "/api/ask", method="POST", raw=b'{"question": "' + b"a" * 5000 + b'"}')
    assert status == 413 and b"too large" in body
    # A lone surrogate (valid JSON escape, not text) in the question or the history: a 4xx or an
    # answer, never a 500, and the security headers are there.
    status, headers, body = _request(server["url"] + "/api/ask", method="POST",
                                     raw=b'{"question": "is it \\ud800 permanent?"}')
    assert status == 400 and json.loads(body)["status"] == "invalid"
    assert {k.lower(): v for k, v in headers.items()}.get("x-content-type-options") == "nosniff"
    status, _, body = _request(server["url"] + "/api/ask", method="POST",
                               raw=b'{"question": "is it permanent?", "history": ["\\ud800"]}')
    assert status == 200 and json.loads(body)["status"] == "answered"


def test_search_and_health(server):
    status, data = _json(server["url"] + "/api/search?q=acne%20scars&k=3")
    assert status == 200 and [r["rank"] for r in data["results"]] == [1, 2, 3]
    assert {"title", "section", "score", "text", "source"} <= set(data["results"][0])
    assert _json(server["url"] + "/api/search?q=acne&k=0")[0] == 422
    assert _json(server["url"] + "/api/search")[0] == 422
    status, health = _json(server["url"] + "/healthz")
    assert status == 200 and health["ready"] and health["chunks"] > 0
    status, _, docs = _request(server["url"] + "/openapi.json")
    assert status == 200 and b"/api/ask" in docs


def test_cors_only_for_allowed_origins(server):
    _, headers, _ = _request(server["url"] + "/api/search?q=acne", headers={"Origin": ORIGIN})
    assert headers.get("access-control-allow-origin") == ORIGIN
    _, headers, _ = _request(server["url"] + "/api/search?q=acne", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in {k.lower() for k in headers}


def test_rate_limit_answers_429_with_retry_after(real_settings, real_embedder, real_index_report, tmp_path):
    settings = replace(real_settings, rate_limit=3, allowed_origins=ORIGIN)
    srv, thread, info = _serve(settings, real_embedder, tmp_path / "f.sqlite3")
    try:
        codes = [_request(info["url"] + "/api/search?q=acne", headers={"Origin": ORIGIN}) for _ in range(5)]
        assert [c[0] for c in codes] == [200, 200, 200, 429, 429]
        status, headers, body = codes[-1]
        headers = {k.lower(): v for k, v in headers.items()}
        assert int(headers["retry-after"]) >= 1 and b"too many requests" in body
        assert headers["access-control-allow-origin"] == ORIGIN  # the widget can read the 429
        assert _request(info["url"] + "/widget.js")[0] == 200  # pages and scripts are not counted
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_security_headers_on_pages_and_api(server):
    for path in ("/", "/api/search?q=acne", "/widget.js", "/examples/widget.html"):
        _, headers, _ = _request(server["url"] + path)
        headers = {k.lower(): v for k, v in headers.items()}
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer" and headers["x-frame-options"] == "SAMEORIGIN"
    _, headers, _ = _request(server["url"] + "/api/search?q=acne")
    assert {k.lower(): v for k, v in headers.items()}["cache-control"] == "no-store"


def test_nothing_logged_or_stored_holds_contact_details(server, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    question = "Is microneedling permanent? I am ann.lee@example.com, 0412 345 678"
    _json(server["url"] + "/api/ask", method="POST", body={"question": question})
    _request(server["url"] + "/api/search?q=" + urllib.parse.quote(question))
    assert "ann.lee@example.com" not in caplog.text and "0412 345 678" not in caplog.text
    db = sqlite3.connect(server["feedback"].path)
    stored = " ".join(q for (q,) in db.execute("SELECT question FROM questions UNION ALL SELECT question FROM votes"))
    assert "ann.lee" not in stored and "345 678" not in stored and "[email], [phone]" in stored


def test_feedback_is_stored_redacted(server):
    _, answer = _json(server["url"] + "/api/ask", method="POST",
                      body={"question": "Is microneedling permanent? I am ann@example.com"})
    status, _ = _json(server["url"] + "/api/feedback", method="POST", body={"answer_id": answer["answer_id"], "vote": "down"})
    assert status == 201
    vote = server["feedback"].votes()[-1]
    assert vote["vote"] == "down" and "ann@example.com" not in vote["question"] and "[email]" in vote["question"]
    assert vote["chunk_ids"]
    assert _json(server["url"] + "/api/feedback", method="POST", body={"answer_id": "nope", "vote": "up"})[0] == 404
    assert _json(server["url"] + "/api/feedback", method="POST", body={"answer_id": "x", "vote": "meh"})[0] == 422


def test_gradio_endpoints_through_gradio_client(server):
    from gradio_client import Client

    client = Client(server["url"] + "/", verbose=False)
    reply = client.predict("Does microneedling help with acne scars?", api_name="/chat")
    assert "\\[1\\]" in reply and "**Sources**" in reply and "not truly permanent" in reply
    plain, passages = client.predict("redness after treatment", api_name="/lookup")
    assert "[1]" in plain and plain.endswith(CAVEAT) and "| 1 |" in passages


# --- a real browser ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("chromium and chromedriver are missing: run `make test` (it installs Debian's packages)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _widget_ask(driver, question):
    from selenium.webdriver.common.by import By

    before = len(driver.find_elements(By.CSS_SELECTOR, ".mnw-bot"))
    box = driver.find_element(By.ID, "mnw-input")
    box.send_keys(question)
    driver.find_element(By.ID, "mnw-send").click()
    # The reply box appears at once and fills as sentences stream in; it is done when it has a status.
    _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".mnw-bot")) > before
          and d.find_elements(By.CSS_SELECTOR, ".mnw-bot")[-1].get_attribute("data-status") != "pending")
    return driver.find_elements(By.CSS_SELECTOR, ".mnw-bot")[-1]


def test_widget_on_a_host_page(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server["url"] + "/examples/widget.html")
    _wait(browser, lambda d: d.find_elements(By.ID, "mnw-bubble"))
    browser.find_element(By.ID, "mnw-bubble").click()
    try:
        reply = _widget_ask(browser, "How long do microneedling results last?")
        assert reply.get_attribute("data-status") == "answered"
        assert "[1]" in reply.find_element(By.CSS_SELECTOR, ".mnw-answer").text
        notes = reply.find_elements(By.CSS_SELECTOR, ".mnw-notes li")
        assert notes and "“" in notes[0].text
        assert reply.find_element(By.CSS_SELECTOR, ".mnw-caveat").text == CAVEAT

        refusal = _widget_ask(browser, "How much does it cost?")
        assert refusal.get_attribute("data-status") == "out_of_scope"
        assert refusal.find_element(By.CSS_SELECTOR, ".mnw-caveat").text == CAVEAT
        urgent = _widget_ask(browser, "there is pus and spreading redness")
        assert urgent.get_attribute("data-status") == "urgent"

        # Markup in a question is shown as text and never runs.
        hostile = "<img src=x onerror=\"window.__pwned=1\"> is it permanent?"
        _widget_ask(browser, hostile)
        assert browser.execute_script("return window.__pwned === undefined")
        assert browser.find_elements(By.CSS_SELECTOR, ".mnw-user")[-1].text == hostile
        assert not browser.find_elements(By.CSS_SELECTOR, "#mnw-log img")

        reply.find_element(By.CSS_SELECTOR, "[data-vote='up']").click()
        _wait(browser, lambda d: reply.find_element(By.CSS_SELECTOR, ".mnw-votes").get_attribute("data-voted"))
        assert reply.find_element(By.CSS_SELECTOR, ".mnw-votes").get_attribute("data-voted") == "up"
        rows = sqlite3.connect(server["feedback"].path).execute(
            "SELECT question, vote FROM votes WHERE vote = 'up'").fetchall()
        assert ("How long do microneedling results last?", "up") in rows
    finally:
        browser.save_screenshot(str(ARTIFACTS / "widget.png"))


def test_gradio_chat_page_in_the_browser(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(server["url"] + "/")
    try:
        box = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#chat-input textarea"))
        hostile = "<b>Is microneedling permanent?</b> <img src=x onerror=\"window.__pwned=1\">"
        box.send_keys(hostile)
        box.send_keys(Keys.ENTER)
        _wait(browser, lambda d: "Sources" in d.find_element(By.ID, "chatbot").text)
        chat = browser.find_element(By.ID, "chatbot")
        assert "[1]" in chat.text and "not truly permanent" in chat.text
        # The question is shown as the text typed: no image, no bold, no script.
        assert hostile in chat.text
        assert not chat.find_elements(By.CSS_SELECTOR, "img, b")
        assert browser.execute_script("return window.__pwned === undefined")
        # A follow-up uses the conversation so far.
        box.send_keys("how many sessions for that?")
        box.send_keys(Keys.ENTER)
        _wait(browser, lambda d: d.find_element(By.ID, "chatbot").text.count("Sources") == 2)
        assert "sessions" in browser.find_element(By.ID, "chatbot").text.split(hostile)[-1]
        # A thumbs-down on the last answer lands in SQLite.
        browser.find_elements(By.CSS_SELECTOR, "#chatbot button[aria-label='Dislike']")[-1].click()
        db = sqlite3.connect(server["feedback"].path)
        _wait(browser, lambda d: db.execute(
            "SELECT COUNT(*) FROM votes WHERE vote = 'down' AND question = 'how many sessions for that?'").fetchone()[0])
        assert "Index:" in browser.find_element(By.ID, "status").text
    finally:
        browser.save_screenshot(str(ARTIFACTS / "chat.png"))


def test_front_desk_lookup_in_the_browser(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(server["url"] + "/")
    try:
        tab = _wait(browser, lambda d: [t for t in d.find_elements(By.CSS_SELECTOR, "button[role='tab']")
                                        if t.text == "Front desk lookup"])
        tab[0].click()
        box = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#desk-query textarea, #desk-query input"))
        box.send_keys("how many sessions")
        box.send_keys(Keys.ENTER)
        # The box answers as the receptionist types, so a partial query's reply ("how many sess")
        # may show first; wait for the reply to the whole question (issue 10 removes the flicker).
        def final_answer(d):
            value = d.find_element(By.CSS_SELECTOR, "#desk-answer textarea").get_attribute("value")
            return value if value and "number of sessions" in value else False

        answer = _wait(browser, final_answer)
        assert answer.endswith(CAVEAT) and "Sources:" in answer
        _wait(browser, lambda d: "Maintenance" in d.find_element(By.ID, "desk-passages").text)
    finally:
        browser.save_screenshot(str(ARTIFACTS / "front-desk.png"))


# --- hostile input: property-based ---------------------------------------------------------

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
    max_leaves=30,
)
PAYLOADS = JSON | st.fixed_dictionaries({"question": JSON}, optional={"history": JSON, "k": JSON})


@hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=PAYLOADS)
def test_api_never_answers_500(server, payload):
    status, _, body = _request(server["url"] + "/api/ask", method="POST", body=payload)
    assert status < 500
    data = json.loads(body)
    if status >= 400:
        assert isinstance(data["error"], str) and data["error"]
    else:
        assert data["caveat"] == CAVEAT and data["status"] in {"answered", "out_of_scope", "urgent", "invalid"}


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=200), k=st.text(max_size=5))
def test_search_never_answers_500(server, q, k):
    query = urllib.parse.urlencode({"q": q, "k": k})
    status, _, body = _request(server["url"] + "/api/search?" + query)
    assert status < 500 and (status == 200 or json.loads(body)["error"])


@pytest.mark.parametrize("raw", [
    b"[" * 3000 + b"]" * 3000,
    b'{"question": "' + b"\\u0000" * 10 + b'"}',
    b'{"question": "\xff\xfe"}',
    b"\x00\x01\x02",
    b'{"question": {"nested": ' * 400 + b"1" + b"}" * 400,
])
def test_hostile_bodies_get_4xx(server, raw):
    status, _, body = _request(server["url"] + "/api/ask", method="POST", raw=raw)
    assert 400 <= status < 500 and json.loads(body)["error"]


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, browser):
    """An app whose corpus itself carries markup and a script, served like the real one."""
    from assistant.embeddings import get_embedder
    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest
    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("hostile")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "aftercare.txt").write_text(
        "Aftercare after microneedling\n\n"
        "Keep treated skin clean <img src=x onerror=\"window.__pwned=1\"> and use gentle products for a few days "
        "after microneedling <script>window.__pwned=2</script> to help healing.\n\n"
        "Avoid direct sun after microneedling and use a mineral sunscreen <b>every day</b> while skin heals.\n",
        encoding="utf-8")
    settings = Settings.from_env({}, corpus_dir=corpus, data_dir=root / "data", rate_limit=100_000)
    embedder = get_embedder(settings)
    run_ingest(settings, embedder, ChromaIndex(open_client(settings), settings.collection), progress=False)
    srv, thread, info = _serve(settings, embedder, root / "f.sqlite3")
    yield info
    srv.should_exit = True
    thread.join(timeout=10)


def test_markup_from_the_corpus_and_history_stays_text(hostile_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    try:
        browser.get(hostile_server["url"] + "/examples/widget.html")
        _wait(browser, lambda d: d.find_elements(By.ID, "mnw-bubble"))
        browser.find_element(By.ID, "mnw-bubble").click()
        reply = _widget_ask(browser, "how should I keep my skin clean after microneedling?")
        assert reply.get_attribute("data-status") == "answered"
        assert "<img" in reply.find_element(By.CSS_SELECTOR, ".mnw-answer").text
        reply = _widget_ask(browser, "and what about sun?")  # history carries the markup question back
        assert not browser.find_elements(By.CSS_SELECTOR, "#mnw-log img, #mnw-log b, #mnw-log script")
        assert browser.execute_script("return window.__pwned === undefined")
        browser.save_screenshot(str(ARTIFACTS / "hostile-widget.png"))

        browser.get(hostile_server["url"] + "/")
        box = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#chat-input textarea"))
        box.send_keys("how should I keep my skin clean after microneedling?")
        box.send_keys(Keys.ENTER)
        _wait(browser, lambda d: "Sources" in d.find_element(By.ID, "chatbot").text)
        box.send_keys("and what about sun? <b>now</b>")
        box.send_keys(Keys.ENTER)
        _wait(browser, lambda d: d.find_element(By.ID, "chatbot").text.count("Sources") == 2)
        chat = browser.find_element(By.ID, "chatbot")
        assert "<img" in chat.text and "<b>every day</b>" in chat.text and "<b>now</b>" in chat.text
        assert not chat.find_elements(By.CSS_SELECTOR, "img, b, script")
        assert browser.execute_script("return window.__pwned === undefined")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "hostile-chat.png"))
