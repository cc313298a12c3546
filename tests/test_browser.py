"""The widget in a real browser: Debian's headless Chromium drives it on a host page; axe-core
checks it (the chat and front-desk pages: tests/test_pages.py). Screenshots land in test-artifacts/."""

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
    finally:
        browser.save_screenshot(str(ARTIFACTS / "hostile-widget.png"))


# The pages (/ and /desk/) are checked in tests/test_pages.py.
@pytest.mark.parametrize("path, ready", [("/examples/widget.html", "#mnw-bubble")])
def test_pages_have_no_serious_accessibility_violations(server, browser, path, ready):
    from selenium.webdriver.common.by import By

    browser.get(server["url"] + path)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ready))
    assert axe_violations(browser) == []
