"""The patient chat page (/) and the front-desk page (/desk/) in a real browser: Debian's headless
Chromium against the whole app on a loopback port; axe-core checks them. Screenshots land in
test-artifacts/ (chat.png and desk.png are the README's docs/ pictures)."""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import replace

import pytest

from assistant.answer.answering import CAVEAT, CLOSEST_LEAD, CLOSEST_TAIL, REFUSAL
from assistant.text import normalize, stem
from assistant.settings import PROJECT_ROOT
from assistant.web.pages.render import TRIM_CHARS, query_stems, tel_href
from assistant.web.console.sessions import SESSION_COOKIE
from tests.console_support import console_settings, ingest, make_account, sign_in_browser
from tests.web_support import (ARTIFACTS, axe_violations, chromium, closest_settings, request, request_json, serving,
                               serving_markup_corpus, wait)

pytestmark = pytest.mark.integration
PHONE = "+1 (555) 010-2000"
DOCS = PROJECT_ROOT / "docs"


def _screenshot(driver, name: str) -> None:
    """Into test-artifacts/; with WRITE_DOCS_SCREENSHOTS=1 also into docs/ (the README's pictures)."""
    driver.save_screenshot(str(ARTIFACTS / name))
    if os.environ.get("WRITE_DOCS_SCREENSHOTS"):
        driver.save_screenshot(str(DOCS / name))


def _csp_blocked(driver) -> list[str]:
    """What the page's Content-Security-Policy blocked since the log was last read."""
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


@pytest.fixture(scope="module")
def server(real_settings, real_embedder, real_index_report, tmp_path_factory):
    settings = replace(real_settings, rate_limit=100_000, clinic_phone=PHONE)
    with serving(settings, real_embedder, tmp_path_factory.mktemp("feedback") / "f.sqlite3") as info:
        # The front desk is for signed-in staff (the console's accounts).
        yield info | {"settings": settings, "account": make_account(settings.data_dir)}


def _open_desk(driver, info, path="/desk/"):
    """Open the front desk, signing in with the server's staff account when the browser is not yet."""
    from selenium.webdriver.common.by import By

    driver.get(info["url"] + path)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#login-form, #desk-query"))
    if driver.find_elements(By.ID, "login-form"):
        sign_in_browser(driver, info["url"], *info["account"], then=path)


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def phone():
    """Chromium as a 390x844 phone: that viewport, touch, the phone's pixel ratio."""
    driver = chromium(390, 844)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True})
    yield driver
    driver.quit()


# --- the patient chat page -------------------------------------------------------------------

def _open_chat(driver, url, fresh=True):
    """The chat page; ``fresh``: as a new tab would see it, without the conversation this tab
    had on this server (kept for a reload under the tab's id in sessionStorage)."""
    from selenium.webdriver.common.by import By

    if fresh:
        driver.get(url + "/pages/chat.js")  # any page of the origin, to reach its sessionStorage
        driver.execute_script("sessionStorage.clear()")
    driver.get(url + "/")
    return wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#chat-input textarea"))


def _votes_shown(driver, reply) -> list[str]:
    """The vote buttons a visitor sees under a reply (Gradio draws them in the row after it)."""
    return sorted(driver.execute_script("""
        const row = arguments[0].closest('.message-row').nextElementSibling;
        return [...row.querySelectorAll("button[aria-label='Like'], button[aria-label='Dislike']")]
          .filter(b => b.getClientRects().length).map(b => b.getAttribute('aria-label'));""", reply))


def _ask(driver, question):
    """Type a question, send it with Enter, and return the new reply element when it is there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    before = len(driver.find_elements(By.CSS_SELECTOR, "#chatbot .reply"))
    box = driver.find_element(By.CSS_SELECTOR, "#chat-input textarea")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chatbot .reply")) > before)
    return driver.find_elements(By.CSS_SELECTOR, "#chatbot .reply")[-1]


def test_gradio_chat_page_in_the_browser(server, browser):
    from selenium.webdriver.common.by import By

    box = _open_chat(browser, server["url"])
    try:
        page = browser.find_element(By.TAG_NAME, "body").text
        # Patients see the chat alone: no desk, no index or model details, no timestamp, no API footer.
        assert "Front desk" not in page and "Index" not in page and "Use via API" not in page
        assert server["settings"].model_path not in browser.page_source
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", page)
        status, _, config = request(server["url"] + "/config")
        assert status == 200 and b"desk-query" not in config
        assert "Hello" in browser.find_element(By.ID, "chatbot").text

        # A starter question sends itself and is answered; the starters then make way.
        starters = browser.find_elements(By.CSS_SELECTOR, "#chat-starters button.starter")
        assert len(starters) >= 3
        question = starters[0].text
        starters[0].click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#chatbot .reply"))
        chat = browser.find_element(By.ID, "chatbot")
        assert question in chat.text
        reply = chat.find_element(By.CSS_SELECTOR, ".reply")
        assert "reply-answered" in reply.get_attribute("class")
        markers = reply.find_elements(By.CSS_SELECTOR, ".answer sup.marker")
        assert markers and markers[0].text == "[1]"
        assert not browser.find_elements(By.CSS_SELECTOR, "#chat-starters button.starter")
        # Sources are folded behind "Sources (n)": titles and sections, never file names.
        sources = reply.find_element(By.CSS_SELECTOR, "details.sources")
        assert sources.get_attribute("open") is None
        items = sources.find_elements(By.CSS_SELECTOR, "li")
        assert sources.find_element(By.TAG_NAME, "summary").text == f"Sources ({len(items)})"
        sources.find_element(By.TAG_NAME, "summary").click()
        assert all(li.find_element(By.CSS_SELECTOR, ".source-title").text for li in items)
        assert ".txt" not in reply.text and ".pdf" not in reply.text
        assert reply.text.count(CAVEAT) == 1 and reply.find_element(By.CSS_SELECTOR, ".caveat").text == CAVEAT

        # Markup in a question is shown as the text typed and never runs.
        hostile = "<b>Is microneedling permanent?</b> <img src=x onerror=\"window.__pwned=1\">"
        reply = _ask(browser, hostile)
        chat = browser.find_element(By.ID, "chatbot")
        assert hostile in chat.text and "not truly permanent" in reply.text
        assert not chat.find_elements(By.CSS_SELECTOR, "img, b")
        assert browser.execute_script("return window.__pwned === undefined")
        # A follow-up uses the conversation so far.
        reply = _ask(browser, "how many sessions for that?")
        assert "sessions" in reply.find_element(By.CSS_SELECTOR, ".answer").text
        # A thumbs-down on the last answer lands in SQLite.
        browser.find_elements(By.CSS_SELECTOR, "#chatbot button[aria-label='Dislike']")[-1].click()
        db = sqlite3.connect(server["feedback"].path)
        wait(browser, lambda d: db.execute(
            "SELECT COUNT(*) FROM votes WHERE vote = 'down' AND question = 'how many sessions for that?'").fetchone()[0])
        # Changing one's mind replaces the vote rather than adding one.
        browser.find_elements(By.CSS_SELECTOR, "#chatbot button[aria-label='Like']")[-1].click()
        wait(browser, lambda d: db.execute(
            "SELECT vote FROM votes WHERE question = 'how many sessions for that?'").fetchall() == [("up",)])
        assert (question, "chat") in db.execute("SELECT question, channel FROM questions").fetchall()
    finally:
        browser.save_screenshot(str(ARTIFACTS / "chat-desktop.png"))


def test_urgent_reply_calls_the_clinic_and_carries_no_caveat(server, browser):
    from selenium.webdriver.common.by import By

    browser.get_log("browser")  # drop what earlier pages logged
    _open_chat(browser, server["url"])
    try:
        answered = _ask(browser, "Does microneedling help with acne scars?")
        refused = _ask(browser, "How much does it cost?")
        urgent = _ask(browser, "there is pus and spreading redness")
        assert "reply-urgent" in urgent.get_attribute("class")
        call = urgent.find_element(By.CSS_SELECTOR, "a[href^='tel:']")
        assert call.get_attribute("href") == tel_href(PHONE) and PHONE in call.text
        assert not urgent.find_elements(By.CSS_SELECTOR, ".caveat") and CAVEAT not in urgent.text
        # It stands out: its own colour and an icon, unlike the answers around it.
        colour = urgent.value_of_css_property("border-left-color")
        assert colour != answered.value_of_css_property("border-left-color")
        assert "⚠" in urgent.text
        # The answer has the caveat and the votes; the refusal neither, and no more does the urgent reply.
        assert answered.text.count(CAVEAT) == 1 and _votes_shown(browser, answered) == ["Dislike", "Like"]
        assert CAVEAT not in refused.text and not refused.find_elements(By.CSS_SELECTOR, ".caveat")
        assert _votes_shown(browser, refused) == [] and _votes_shown(browser, urgent) == []
        # Refused, or met with the closest passages only (the fitted calibration decides which):
        # either way not an answer, and it offers the clinic's number.
        classes = refused.get_attribute("class").split()
        assert "reply-closest" in classes or ("reply-out_of_scope" in classes and REFUSAL.split(",")[0] in refused.text)
        assert refused.find_element(By.CSS_SELECTOR, ".contact a[href^='tel:']").get_attribute("href") == tel_href(PHONE)
        # Every reply is on screen with its sources open for the check.
        for summary in browser.find_elements(By.CSS_SELECTOR, "#chatbot details.sources summary"):
            browser.execute_script("arguments[0].parentElement.open = true", summary)
        assert axe_violations(browser) == [] and _csp_blocked(browser) == []
    finally:
        size = browser.get_window_size()
        browser.set_window_size(1100, 1500)  # tall enough for the three replies (docs/chat.png)
        _screenshot(browser, "chat.png")
        browser.set_window_size(size["width"], size["height"])


def test_an_answer_a_learned_reading_flagged_comes_after_the_crisis_message(server, browser):
    """Only the learned crisis reading fires on the question, and the documents answer it: the
    crisis message and the number first, then the answer with its sources, caveat and votes."""
    from selenium.webdriver.common.by import By

    browser.get_log("browser")
    _open_chat(browser, server["url"])
    try:
        alerted = _ask(browser, "honestly some days i wish i could just disappear because of my scars, does "
                                "microneedling work on acne scars")
        alert = alerted.find_element(By.CSS_SELECTOR, ".reply-alert")
        assert "988" in alert.text and "⚠" in alert.text
        assert alert.find_element(By.CSS_SELECTOR, "a[href^='tel:']").get_attribute("href") == tel_href(PHONE)
        assert "reply-answered" in alerted.get_attribute("class") and alerted.text.count(CAVEAT) == 1
        assert alerted.text.index("988") < alerted.text.index(CAVEAT)
        assert _votes_shown(browser, alerted) == ["Dislike", "Like"]
        assert axe_violations(browser) == [] and _csp_blocked(browser) == []
    finally:
        _screenshot(browser, "chat-alert.png")


def test_closest_passages_read_as_no_answer_and_offer_the_phone_and_booking_page(
        real_settings, real_embedder, real_index_report, tmp_path, browser):
    """On a calibration that grades every in-scope question "closest" (see closest_settings)."""
    from selenium.webdriver.common.by import By

    booking = "https://clinic.example/book?from=chat&x=1"
    settings = replace(closest_settings(real_settings, tmp_path), rate_limit=100_000, clinic_phone=PHONE,
                       clinic_contact_url=booking)
    with serving(settings, real_embedder, tmp_path / "f.sqlite3") as info:
        browser.get_log("browser")  # drop what earlier pages logged
        _open_chat(browser, info["url"])
        try:
            reply = _ask(browser, "How long do microneedling results last?")
            assert "reply-closest" in reply.get_attribute("class")
            assert reply.find_element(By.CSS_SELECTOR, ".closest-label").text == "No direct answer"
            assert reply.find_element(By.CSS_SELECTOR, ".closest-lead").text == CLOSEST_LEAD
            assert reply.find_element(By.CSS_SELECTOR, ".closest-tail").text == CLOSEST_TAIL
            quotes = reply.find_element(By.CSS_SELECTOR, "blockquote.closest-quotes")
            assert [m.text for m in quotes.find_elements(By.CSS_SELECTOR, "sup.marker")][:1] == ["[1]"]
            assert quotes.value_of_css_property("font-style") == "italic"
            browser.execute_script("arguments[0].open = true", reply.find_element(By.CSS_SELECTOR, "details.sources"))
            assert 1 <= len(reply.find_elements(By.CSS_SELECTOR, "details.sources li")) <= 2
            call = reply.find_element(By.CSS_SELECTOR, ".contact a[href^='tel:']")
            assert call.get_attribute("href") == tel_href(PHONE) and PHONE in call.text
            link = reply.find_element(By.CSS_SELECTOR, ".contact a.contact-link")
            # (Gradio's sanitiser makes the rel "noopener noreferrer".)
            assert link.get_attribute("href") == booking and "noopener" in link.get_attribute("rel").split()
            assert link.get_attribute("target") == "_blank"
            assert link.accessible_name == "Book or contact us online (opens in a new tab)"
            # Not an answer: no caveat, no votes.
            assert CAVEAT not in reply.text and _votes_shown(browser, reply) == []
            assert axe_violations(browser) == [] and _csp_blocked(browser) == []
        finally:
            browser.save_screenshot(str(ARTIFACTS / "chat-closest.png"))


def test_a_reply_is_put_in_the_log_once_whole(server, browser):
    """The chat log is an ARIA live region: a reply that grew in steps would be read out in
    pieces. Every change to the log is recorded; the reply's text must never change once shown."""
    _open_chat(browser, server["url"])
    browser.execute_script("""
        window.__replyTexts = [];
        const log = document.querySelector('#chatbot [role="log"]');
        new MutationObserver(() => {
          const replies = log.querySelectorAll('.reply');
          if (replies.length) window.__replyTexts.push(replies[replies.length - 1].textContent);
        }).observe(log, {childList: true, subtree: true, characterData: true});""")
    _ask(browser, "What happens right after a session?")
    texts = browser.execute_script("return window.__replyTexts")
    assert texts and len(set(texts)) == 1
    # Each message is read as shown, not by a name holding its HTML source.
    names = browser.execute_script(
        "return [...document.querySelectorAll('#chatbot [aria-label]')].map(e => e.getAttribute('aria-label'))")
    assert not [n for n in names if "<" in n or "message:" in n]


def test_a_long_conversation_stays_within_the_limits(server, browser):
    """Twenty turns of long answers: more than the request body limit would hold if the browser
    sent the conversation back with each question (it stays on the server)."""
    from selenium.webdriver.common.by import By

    _open_chat(browser, server["url"])
    questions = ["How long do microneedling results last?", "Does it help with acne scars?"]
    for turn in range(20):
        reply = _ask(browser, questions[turn % 2])
        assert "reply-answered" in reply.get_attribute("class"), turn
    shown = browser.find_element(By.ID, "chatbot").get_attribute("innerHTML")
    assert len(shown.encode()) > server["settings"].max_body_bytes  # the test does exercise the limit
    # A markup-only message is answered "invalid" and does not become history for later turns.
    reply = _ask(browser, "<br><br>")
    assert "reply-invalid" in reply.get_attribute("class")
    reply = _ask(browser, "how many sessions for that?")
    assert "reply-answered" in reply.get_attribute("class")


def test_the_conversation_survives_a_reload_until_new_chat(server, browser):
    """As the widget's: kept for the tab (an id in sessionStorage; the conversation on the server),
    never shown to another tab, gone after "New chat"."""
    from selenium.webdriver.common.by import By

    _open_chat(browser, server["url"])
    _ask(browser, "How long do microneedling results last?")
    _ask(browser, "How much does it cost?")
    before = browser.find_element(By.ID, "chatbot").text
    # The tab holds an id and nothing of the conversation itself.
    stored = browser.execute_script("return Object.entries(sessionStorage)")
    assert len(stored) == 1 and re.fullmatch(r"[0-9a-f]{32}", stored[0][1]), stored

    browser.refresh()
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chatbot .reply")) == 2)
    assert browser.find_element(By.ID, "chatbot").text == before
    assert not browser.find_elements(By.CSS_SELECTOR, "#chat-starters button.starter")
    # The restored answer still takes votes, and the conversation goes on from where it was.
    replies = browser.find_elements(By.CSS_SELECTOR, "#chatbot .reply")
    assert _votes_shown(browser, replies[0]) == ["Dislike", "Like"] and _votes_shown(browser, replies[1]) == []
    reply = _ask(browser, "how many sessions for that?")
    assert "reply-answered" in reply.get_attribute("class")

    # Another tab (a visitor of its own) starts empty, and so does a made-up id.
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    try:
        _open_chat(browser, server["url"], fresh=False)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#chat-starters button.starter"))
        assert not browser.find_elements(By.CSS_SELECTOR, "#chatbot .reply")
        browser.execute_script("sessionStorage.setItem(arguments[0], '0123456789abcdef0123456789abcdef')",
                               stored[0][0])
        browser.refresh()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#chat-starters button.starter"))
        assert not browser.find_elements(By.CSS_SELECTOR, "#chatbot .reply")
    finally:
        browser.close()
        browser.switch_to.window(first)

    # "New chat" clears it: the greeting and starters are back, and a reload keeps it empty.
    browser.find_element(By.ID, "chat-new").click()
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#chatbot .reply"))
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#chat-starters button.starter"))
    assert "Hello" in browser.find_element(By.ID, "chatbot").text
    browser.refresh()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#chat-starters button.starter"))
    browser.execute_script("return new Promise(r => setTimeout(r, 1000))")  # time for a restore
    assert not browser.find_elements(By.CSS_SELECTOR, "#chatbot .reply")


def test_chat_page_fits_a_phone(server, phone):
    from selenium.webdriver.common.by import By

    _open_chat(phone, server["url"])
    try:
        height = phone.execute_script("return window.innerHeight")
        assert height == 844
        starters = phone.find_elements(By.CSS_SELECTOR, "#chat-starters button.starter")
        assert starters and all(0 <= b.rect["y"] and b.rect["y"] + b.rect["height"] <= height for b in starters)
        box = phone.find_element(By.CSS_SELECTOR, "#chat-input textarea")
        assert box.rect["y"] + box.rect["height"] <= height and box.value_of_css_property("font-size") == "16px"
        for question in ("How long do microneedling results last?", "Does microneedling help with acne scars?",
                         "there is pus and spreading redness"):
            _ask(phone, question)
        # One scroll area: the page itself does not scroll, the conversation does.
        assert phone.execute_script("return document.scrollingElement.scrollHeight") <= height
        scrollers = phone.execute_script("""
            return [...document.querySelectorAll('*')].filter(e => {
              const s = getComputedStyle(e).overflowY;
              return (s === 'auto' || s === 'scroll') && e.scrollHeight > e.clientHeight + 1;
            }).map(e => e.closest('#chatbot') ? 'chatbot' : e.tagName + '.' + e.className);""")
        assert scrollers == ["chatbot"]
    finally:
        phone.save_screenshot(str(ARTIFACTS / "chat-phone.png"))


# --- the front desk ------------------------------------------------------------------------

def _desk_answer(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "#desk-answer textarea").get_attribute("value")


def test_front_desk_lookup_in_the_browser(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get_log("browser")  # drop what earlier pages logged
    _open_desk(browser, server, "/desk")  # no trailing slash: sent on to /desk/
    try:
        box = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#desk-query textarea"))
        wait(browser, lambda d: d.switch_to.active_element == box)
        query = "how many sessions"
        # Typed a key at a time at a brisk typist's pace (150 ms a key, under the pause), while
        # the page records every value the answer box and the passages' caption take: the answer
        # box never shows the refusal a half-typed question would get; the passages follow.
        browser.execute_script("""
            const seen = window.__deskSeen = {answers: [], captions: []};
            const note = (list, value) => { if (list[list.length - 1] !== value) list.push(value); };
            window.__deskWatch = setInterval(() => {
              note(seen.answers, document.querySelector('#desk-answer textarea').value);
              note(seen.captions, [...document.querySelectorAll('#desk-passages .passages-for')]
                .map(e => e.textContent).join('|'));
            }, 20);""")
        typing = ActionChains(browser)
        for ch in query:
            typing.send_keys(ch).pause(0.15)
        typing.perform()
        seen = browser.execute_script("clearInterval(window.__deskWatch); return window.__deskSeen")
        assert not any(REFUSAL in s for s in seen["answers"]), seen["answers"]
        assert len({c for c in seen["captions"] if c}) >= 2, seen["captions"]
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        answer = wait(browser, lambda d: _desk_answer(d) or False)
        assert "number of sessions" in answer and "[1]" in answer and "Sources:" in answer
        assert CAVEAT not in answer and ".txt" not in answer
        assert browser.find_element(By.ID, "desk-caveat").text == CAVEAT
        assert query in browser.find_element(By.ID, "desk-answer").text  # "Answer for “…”"

        # Passages: a label people can read, the query's words marked, long text trimmed.
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#desk-passages .passage"))
        passages = browser.find_elements(By.CSS_SELECTOR, "#desk-passages .passage")
        labels = [p.find_element(By.CSS_SELECTOR, ".relevance").text for p in passages]
        strength = {"strong match": 2, "fair match": 1, "weak match": 0}
        assert set(labels) <= set(strength) and labels[0] == "strong match"
        assert [strength[x] for x in labels] == sorted((strength[x] for x in labels), reverse=True)
        assert not re.search(r"\d\.\d{3}", browser.find_element(By.ID, "desk-passages").text)
        marked = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#desk-passages mark")]
        assert marked and all(stem(normalize(m).lower()) in query_stems(query) for m in marked)
        assert all(len(p.find_element(By.CSS_SELECTOR, ".passage-text").text) <= TRIM_CHARS + 4 for p in passages)
        assert not browser.find_elements(By.CSS_SELECTOR, "#desk-passages .passage-text b, #desk-passages img")

        # Copied for a patient, read back from the browser's clipboard: the quotes without their
        # markers and the caveat; with the tick box, the sources as plain lines.
        copied = _copy_for_patient(browser, server["url"])
        quotes = re.sub(r" ?\[\d\]", "", answer.split("\n\nSources:")[0])
        assert copied == f"{quotes}\n\n{CAVEAT}" and "number of sessions" in copied
        copied = _copy_for_patient(browser, server["url"], sources=True)
        assert copied.startswith(f"{quotes}\n\nSources:\n") and copied.endswith(f"\n\n{CAVEAT}")
        assert not re.search(r"\[\d+\]", copied) and ".txt" not in copied

        assert axe_violations(browser) == [] and _csp_blocked(browser) == []
        _screenshot(browser, "desk.png")

        # A question the desk cannot answer is recorded for the clinic's report.
        box = browser.find_element(By.CSS_SELECTOR, "#desk-query textarea")
        box.clear()
        box.send_keys("What is the price of a session with parking?")
        box.send_keys(Keys.ENTER)
        wait(browser, lambda d: REFUSAL in _desk_answer(d))
        db = sqlite3.connect(server["feedback"].path)
        assert ("What is the price of a session with parking?", "out_of_scope", "desk") in db.execute(
            "SELECT question, status, channel FROM questions").fetchall()
    finally:
        browser.save_screenshot(str(ARTIFACTS / "desk-last.png"))


def _copy_for_patient(driver, url, sources=False) -> str:
    """Click "Copy for a patient" (ticking "With sources" or not first); what the clipboard then holds."""
    from selenium.webdriver.common.by import By

    driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    tick = driver.find_element(By.CSS_SELECTOR, "#desk-sources input[type=checkbox]")
    if tick.is_selected() != sources:
        tick.click()
    driver.execute_script("document.querySelector('#desk-copied').textContent = ''")
    driver.find_element(By.ID, "desk-copy").click()
    note = wait(driver, lambda d: d.find_element(By.ID, "desk-copied").text)
    assert note == ("Copied for a patient, with sources." if sources else "Copied for a patient.")
    return driver.execute_async_script("const done = arguments[arguments.length - 1];"
                                       "navigator.clipboard.readText().then(done, e => done('error: ' + e));")


def test_front_desk_answers_after_a_pause_without_enter(server, browser):
    from selenium.webdriver.common.by import By

    _open_desk(browser, server)
    box = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#desk-query textarea"))
    box.send_keys("redness after treatment")
    answer = wait(browser, lambda d: _desk_answer(d) or False)
    assert "[1]" in answer


# --- markup in the corpus ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    """An app whose corpus itself carries markup and a script, served like the real one."""
    root = tmp_path_factory.mktemp("hostile")
    with serving_markup_corpus(root) as info:
        yield info | {"account": make_account(root / "data")}


def test_markup_from_the_corpus_and_history_stays_text(hostile_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    try:
        _open_chat(browser, hostile_server["url"])
        _ask(browser, "how should I keep my skin clean after microneedling?")
        _ask(browser, "and what about sun? <b>now</b>")  # history carries the markup question back
        chat = browser.find_element(By.ID, "chatbot")
        for summary in chat.find_elements(By.CSS_SELECTOR, "details.sources summary"):
            summary.click()
        assert "<img" in chat.text and "<b>every day</b>" in chat.text and "<b>now</b>" in chat.text
        assert not chat.find_elements(By.CSS_SELECTOR, "img, b, script")
        assert browser.execute_script("return window.__pwned === undefined")

        _open_desk(browser, hostile_server)
        box = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#desk-query textarea"))
        box.send_keys("keep skin clean")
        box.send_keys(Keys.ENTER)
        wait(browser, lambda d: "<img" in d.find_element(By.ID, "desk-passages").text)
        assert not browser.find_elements(By.CSS_SELECTOR, "#desk-passages img, #desk-passages script")
        assert browser.find_elements(By.CSS_SELECTOR, "#desk-passages mark")
        assert browser.execute_script("return window.__pwned === undefined")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "hostile-pages.png"))


@pytest.mark.parametrize("path, ready", [("/", "#chat-input textarea"), ("/desk/", "#desk-query textarea")])
def test_pages_have_no_serious_accessibility_violations(server, browser, path, ready):
    from selenium.webdriver.common.by import By

    browser.get_log("browser")  # drop what earlier pages logged
    if path.startswith("/desk"):
        _open_desk(browser, server, path)
    else:
        browser.get(server["url"] + path)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ready))
    assert axe_violations(browser) == []
    # The pages run whole under their Content-Security-Policy: nothing of theirs was blocked.
    assert _csp_blocked(browser) == []


# --- the console's settings, and a staff-only document ------------------------------------------

STAFF_TITLE = "FRONT DESK CHEAT SHEET – phone scripts upd 09/24 KT"
STAFF_NOTE = (
    "Front desk notes\n\n"
    "When a caller asks how many microneedling sessions they will need, say that most patients book three to "
    "six sessions spaced four to six weeks apart, and that the consultation settles the exact number.\n\n"
    "Quote the package price of 3 sessions for 750 dollars; waive the consultation fee for returning patients.\n")


@pytest.fixture(scope="module")
def clinic(real_settings, real_embedder, tmp_path_factory):
    """The app on a corpus copy with a staff-only note, its own data folder (so the widget settings
    saved here stay here) and CLINIC_PHONE set in the environment; an admin and a staff account."""
    settings = replace(console_settings(real_settings, tmp_path_factory, "pages_clinic"), clinic_phone=PHONE)
    (settings.corpus_dir / "front-desk-cheat-sheet.txt").write_text(STAFF_NOTE, encoding="utf-8")
    with open(settings.corpus_dir / "sources.toml", "a", encoding="utf-8") as toml:
        toml.write(f'\n["front-desk-cheat-sheet.txt"]\ntitle = "{STAFF_TITLE}"\naudience = "staff"\n')
    ingest(settings, real_embedder)
    with serving(settings, real_embedder, settings.data_dir / "feedback.sqlite3") as info:
        yield info | {"settings": settings, "admin": make_account(settings.data_dir, "manager", "admin"),
                      "account": make_account(settings.data_dir)}


def test_console_widget_settings_reach_the_chat_page_without_a_restart(clinic, browser):
    """Saved on the console's widget page, the greeting, starters and booking link show on the chat
    page at its next load; the phone set in the environment wins over the console, as for the widget."""
    from selenium.webdriver.common.by import By

    url, booking = clinic["url"], "https://www.radiance-clinic.example/book"
    _open_chat(browser, url)
    assert "Hello" in browser.find_element(By.ID, "chatbot").text

    sign_in_browser(browser, url, *clinic["admin"], then="/admin/widget")
    wait(browser, lambda d: d.find_elements(By.ID, "widget-form"))
    assert browser.find_element(By.ID, "phone").get_attribute("disabled")  # CLINIC_PHONE is set
    for field, value in (("greeting", "Welcome to Radiance! Ask us about microneedling."),
                         ("starters", "Does microneedling hurt?\nWhat should I avoid after a session?"),
                         ("contact_url", booking)):
        box = browser.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
    browser.find_element(By.ID, "save-widget").click()
    wait(browser, lambda d: any(n.text.startswith("Saved: the widget")
                                for n in d.find_elements(By.CSS_SELECTOR, ".notice")))

    browser.get_log("browser")  # drop what earlier pages logged
    _open_chat(browser, url)
    chat = wait(browser, lambda d: d.find_element(By.ID, "chatbot"))
    wait(browser, lambda d: "Welcome to Radiance!" in d.find_element(By.ID, "chatbot").text)
    assert "Hello" not in chat.text
    starters = wait(browser, lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "#chat-starters button.starter")
                                        if b.is_displayed()] or False)
    assert [b.text for b in starters] == ["Does microneedling hurt?", "What should I avoid after a session?"]
    starters[1].click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#chatbot .reply"))
    assert "What should I avoid after a session?" in browser.find_element(By.ID, "chatbot").text

    # A reply that is not an answer: no caveat, no votes, the environment's phone and the saved link.
    refused = _ask(browser, "Which football team won the league in 1998?")
    assert not set(refused.get_attribute("class").split()) & {"reply-answered", "reply-urgent"}
    assert CAVEAT not in refused.text and _votes_shown(browser, refused) == []
    assert refused.find_element(By.CSS_SELECTOR, ".contact a[href^='tel:']").get_attribute("href") == tel_href(PHONE)
    assert refused.find_element(By.CSS_SELECTOR, ".contact a.contact-link").get_attribute("href") == booking
    assert axe_violations(browser) == [] and _csp_blocked(browser) == []


def test_desk_copy_for_a_patient_has_no_markers_and_no_staff_only_title(clinic, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get_log("browser")  # drop what earlier pages logged
    _open_desk(browser, clinic)
    box = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#desk-query textarea"))
    box.send_keys("How many sessions?")
    box.send_keys(Keys.ENTER)
    answer = wait(browser, lambda d: _desk_answer(d) or False)
    # Staff see where each quote comes from, the staff-only note included.
    assert "[1]" in answer and STAFF_TITLE in answer and "What Microneedling Does Over Time" in answer
    try:
        for sources in (False, True):
            copied = _copy_for_patient(browser, clinic["url"], sources)
            assert not re.search(r"\[\d+\]", copied) and STAFF_TITLE not in copied and "CHEAT SHEET" not in copied
            # The note's own title reads as internal (a cheat sheet: markers.py), so the copy is the
            # answer a patient asking the same gets, without the note's words.
            assert "most patients book three to six sessions" not in copied and copied.endswith(f"\n\n{CAVEAT}")
            # With sources, the public document is named as a plain line; the staff note never.
            assert ("Sources:\nWhat Microneedling Does Over Time" in copied) == sources
        assert axe_violations(browser) == [] and _csp_blocked(browser) == []
    finally:
        browser.save_screenshot(str(ARTIFACTS / "desk-copy.png"))


def test_a_source_opens_its_document_at_the_quote_and_staff_notes_stay_closed(clinic, browser):
    """A source's title opens the document's read-only page in a new tab, the quoted passage marked
    and scrolled to; a staff-only document is the same 404 as no document for the public, and
    opens for signed-in staff."""
    from selenium.webdriver.common.by import By

    url = clinic["url"]
    browser.get_log("browser")  # drop what earlier pages logged
    _open_chat(browser, url)
    # A patient, not signed in; the page keeps its own browser's cookie, which its chat session is bound to.
    browser.delete_cookie(SESSION_COOKIE)
    tabs = browser.window_handles
    question = "How long do microneedling results last?"
    expected = request_json(url + "/api/ask", method="POST", body={"question": question})[1]["citations"][0]
    try:
        reply = _ask(browser, question)
        assert "reply-answered" in reply.get_attribute("class")
        reply.find_element(By.CSS_SELECTOR, "details.sources summary").click()
        link = reply.find_elements(By.CSS_SELECTOR, "details.sources a.source-link")[0]
        assert link.get_attribute("href").startswith(f"{url}/documents/{expected['source']}?quote=")
        assert link.get_attribute("target") == "_blank"
        link.click()
        wait(browser, lambda d: len(d.window_handles) > len(tabs))
        browser.switch_to.window([h for h in browser.window_handles if h not in tabs][0])
        mark = wait(browser, lambda d: d.find_element(By.ID, "quote"))
        assert browser.current_url.split("#")[1] == "quote"
        assert browser.find_element(By.TAG_NAME, "h1").text == expected["title"]
        # The passage itself is marked, and its lead-in or heading with it, in view.
        words = expected["quote"][len(expected["context"]) + 3:] if expected["context"] else expected["quote"]
        marks = [" ".join(m.text.split()) for m in browser.find_elements(By.TAG_NAME, "mark")]
        assert " ".join(words.split()).startswith(" ".join(mark.text.split()))
        if expected["context"] and expected["context"] != expected["title"]:
            assert expected["context"] in marks
        assert browser.execute_script("const r = arguments[0].getBoundingClientRect();"
                                      "return r.top >= 0 && r.bottom <= innerHeight;", mark)
        assert "Staff only" not in browser.find_element(By.TAG_NAME, "body").text
        assert axe_violations(browser) == [] and _csp_blocked(browser) == []
        _screenshot(browser, "document.png")
    finally:
        for handle in browser.window_handles:
            if handle not in tabs:
                browser.switch_to.window(handle)
                browser.close()
        browser.switch_to.window(tabs[0])

    # The staff note: for the public the very 404 of a document that does not exist.
    status, _, body = request(url + "/documents/front-desk-cheat-sheet.txt")
    assert status == 404 and STAFF_TITLE not in body.decode()
    assert (status, body) == request(url + "/documents/no-such-document.txt")[::2]
    assert request(url + "/documents/" + str(clinic["settings"].corpus_dir / "front-desk-cheat-sheet.txt"))[0] == 404
    browser.get(url + "/documents/front-desk-cheat-sheet.txt")
    assert browser.find_element(By.TAG_NAME, "h1").text == "No such document"
    # Signed-in staff open it, labelled staff-only.
    sign_in_browser(browser, url, *clinic["account"], then="/documents/front-desk-cheat-sheet.txt")
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == STAFF_TITLE)
    assert "Staff only: patients cannot open this page." in browser.find_element(By.TAG_NAME, "body").text
    assert "package price of 3 sessions" in browser.find_element(By.TAG_NAME, "article").text
    assert axe_violations(browser) == []
