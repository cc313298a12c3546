"""The pages in a real browser: Debian's headless Chromium drives the widget on a host page, the chat
page and the front desk; axe-core checks them. Screenshots land in test-artifacts/."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from assistant.answer.answering import CAVEAT
from tests.web_support import ARTIFACTS, axe_violations, chromium, serving, wait

pytestmark = pytest.mark.integration
ORIGIN = "http://clinic.example"


@pytest.fixture(scope="module")
def server(real_settings, real_embedder, real_index_report, tmp_path_factory):
    settings = replace(real_settings, allowed_origins=ORIGIN, rate_limit=100_000)
    with serving(settings, real_embedder, tmp_path_factory.mktemp("feedback") / "f.sqlite3") as info:
        yield info


# --- a real browser ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def _widget_ask(driver, question):
    from selenium.webdriver.common.by import By

    before = len(driver.find_elements(By.CSS_SELECTOR, ".mnw-bot"))
    box = driver.find_element(By.ID, "mnw-input")
    box.send_keys(question)
    driver.find_element(By.ID, "mnw-send").click()
    # The reply box appears at once and fills as sentences stream in; it is done when it has a status.
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".mnw-bot")) > before
          and d.find_elements(By.CSS_SELECTOR, ".mnw-bot")[-1].get_attribute("data-status") != "pending")
    return driver.find_elements(By.CSS_SELECTOR, ".mnw-bot")[-1]


def test_widget_on_a_host_page(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server["url"] + "/examples/widget.html")
    wait(browser, lambda d: d.find_elements(By.ID, "mnw-bubble"))
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
        wait(browser, lambda d: reply.find_element(By.CSS_SELECTOR, ".mnw-votes").get_attribute("data-voted"))
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
        box = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#chat-input textarea"))
        hostile = "<b>Is microneedling permanent?</b> <img src=x onerror=\"window.__pwned=1\">"
        box.send_keys(hostile)
        box.send_keys(Keys.ENTER)
        wait(browser, lambda d: "Sources" in d.find_element(By.ID, "chatbot").text)
        chat = browser.find_element(By.ID, "chatbot")
        assert "[1]" in chat.text and "not truly permanent" in chat.text
        # The question is shown as the text typed: no image, no bold, no script.
        assert hostile in chat.text
        assert not chat.find_elements(By.CSS_SELECTOR, "img, b")
        assert browser.execute_script("return window.__pwned === undefined")
        # A follow-up uses the conversation so far.
        box.send_keys("how many sessions for that?")
        box.send_keys(Keys.ENTER)
        wait(browser, lambda d: d.find_element(By.ID, "chatbot").text.count("Sources") == 2)
        assert "sessions" in browser.find_element(By.ID, "chatbot").text.split(hostile)[-1]
        # A thumbs-down on the last answer lands in SQLite.
        browser.find_elements(By.CSS_SELECTOR, "#chatbot button[aria-label='Dislike']")[-1].click()
        db = sqlite3.connect(server["feedback"].path)
        wait(browser, lambda d: db.execute(
            "SELECT COUNT(*) FROM votes WHERE vote = 'down' AND question = 'how many sessions for that?'").fetchone()[0])
        assert "Index:" in browser.find_element(By.ID, "status").text
    finally:
        browser.save_screenshot(str(ARTIFACTS / "chat.png"))


def test_front_desk_lookup_in_the_browser(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(server["url"] + "/")
    try:
        tab = wait(browser, lambda d: [t for t in d.find_elements(By.CSS_SELECTOR, "button[role='tab']")
                                        if t.text == "Front desk lookup"])
        tab[0].click()
        box = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#desk-query textarea, #desk-query input"))
        box.send_keys("how many sessions")
        box.send_keys(Keys.ENTER)
        # The box answers as the receptionist types, so a partial query's reply ("how many sess")
        # may show first; wait for the reply to the whole question (issue 10 removes the flicker).
        def final_answer(d):
            value = d.find_element(By.CSS_SELECTOR, "#desk-answer textarea").get_attribute("value")
            return value if value and "number of sessions" in value else False

        answer = wait(browser, final_answer)
        assert answer.endswith(CAVEAT) and "Sources:" in answer
        wait(browser, lambda d: "Maintenance" in d.find_element(By.ID, "desk-passages").text)
    finally:
        browser.save_screenshot(str(ARTIFACTS / "front-desk.png"))




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
    with serving(settings, embedder, root / "f.sqlite3") as info:
        yield info


def test_markup_from_the_corpus_and_history_stays_text(hostile_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    try:
        browser.get(hostile_server["url"] + "/examples/widget.html")
        wait(browser, lambda d: d.find_elements(By.ID, "mnw-bubble"))
        browser.find_element(By.ID, "mnw-bubble").click()
        reply = _widget_ask(browser, "how should I keep my skin clean after microneedling?")
        assert reply.get_attribute("data-status") == "answered"
        assert "<img" in reply.find_element(By.CSS_SELECTOR, ".mnw-answer").text
        reply = _widget_ask(browser, "and what about sun?")  # history carries the markup question back
        assert not browser.find_elements(By.CSS_SELECTOR, "#mnw-log img, #mnw-log b, #mnw-log script")
        assert browser.execute_script("return window.__pwned === undefined")
        browser.save_screenshot(str(ARTIFACTS / "hostile-widget.png"))

        browser.get(hostile_server["url"] + "/")
        box = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#chat-input textarea"))
        box.send_keys("how should I keep my skin clean after microneedling?")
        box.send_keys(Keys.ENTER)
        wait(browser, lambda d: "Sources" in d.find_element(By.ID, "chatbot").text)
        box.send_keys("and what about sun? <b>now</b>")
        box.send_keys(Keys.ENTER)
        wait(browser, lambda d: d.find_element(By.ID, "chatbot").text.count("Sources") == 2)
        chat = browser.find_element(By.ID, "chatbot")
        assert "<img" in chat.text and "<b>every day</b>" in chat.text and "<b>now</b>" in chat.text
        assert not chat.find_elements(By.CSS_SELECTOR, "img, b, script")
        assert browser.execute_script("return window.__pwned === undefined")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "hostile-chat.png"))


@pytest.mark.parametrize("path, ready", [("/", "#chat-input textarea"), ("/examples/widget.html", "#mnw-bubble")])
def test_pages_have_no_serious_accessibility_violations(server, browser, path, ready):
    from selenium.webdriver.common.by import By

    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(server["url"] + path)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ready))
    assert axe_violations(browser) == []
    # The pages run whole under their Content-Security-Policy: nothing of theirs was blocked.
    blocked = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert blocked == []
