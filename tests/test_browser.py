"""The pages in a real browser: Debian's headless Chromium drives the chat page and the front desk;
axe-core checks them (the widget's tests are in test_widget.py). Screenshots land in test-artifacts/."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from assistant.answer.answering import CAVEAT
from tests.web_support import ARTIFACTS, axe_violations, chromium, serving, serving_markup_corpus, wait

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
    with serving_markup_corpus(tmp_path_factory.mktemp("hostile")) as info:
        yield info


def test_markup_from_the_corpus_and_history_stays_text(hostile_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    try:
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


@pytest.mark.parametrize("path, ready", [("/", "#chat-input textarea")])
def test_pages_have_no_serious_accessibility_violations(server, browser, path, ready):
    from selenium.webdriver.common.by import By

    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(server["url"] + path)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ready))
    assert axe_violations(browser) == []
    # The pages run whole under their Content-Security-Policy: nothing of theirs was blocked.
    blocked = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert blocked == []
