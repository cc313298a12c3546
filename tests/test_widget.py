"""The website widget in a real browser: Debian's headless Chromium loads it from the real server
into host pages (a hostile one on another origin, the example page, a phone-sized window), and
axe-core checks the open panel. Screenshots land in test-artifacts/."""

from __future__ import annotations

import html
import json
import os
import sqlite3
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assistant.answer.answering import CAVEAT, CLOSEST_LEAD, NOT_ANSWERED
from assistant.settings import PROJECT_ROOT
from tests.web_support import (ARTIFACTS, axe_violations, chromium, closest_settings, request, request_json,
                               serving, serving_markup_corpus, wait)

pytestmark = pytest.mark.integration
HOST = "mn-assistant-widget"
PHONE = "+44 (20) 7946-0000"
BOOKING = "https://radiance.example/book?via=widget"
TITLE = "Radiance Skin Clinic"
GREETING = "Hello! I answer questions about microneedling from the clinic's own leaflets."
DOCS = PROJECT_ROOT / "docs"


class Site:
    """A clinic's own website on loopback (a real HTTP server): it serves a host page at any path,
    and, given an upstream, serves the widget and passes its API calls on, or stalls or fails
    them (``mode``: ok | stall | fail) to show the widget's error state."""

    def __init__(self, upstream: str | None = None) -> None:
        self.upstream, self.mode, self.page = upstream, "ok", ""
        self.release = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                site._get(self)

            def do_POST(self):
                site._post(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # "localhost", not 127.0.0.1: the page is on another origin than the assistant's server.
        self.url = f"http://localhost:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def host_page(self, script_src: str, **data: str) -> None:
        attrs = "".join(f' data-{k}="{html.escape(v)}"' for k, v in data.items())
        tag = f'<script src="{html.escape(script_src)}"{attrs} defer></script>'
        self.page = (PROJECT_ROOT / "tests" / "pages" / "hostile.html").read_text(encoding="utf-8").replace(
            "{{WIDGET_TAG}}", tag)

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _send(self, h, status, body: bytes, content_type="application/json") -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _get(self, h) -> None:
        if h.path == "/widget.js" and self.upstream:
            return self._send(h, 200, (PROJECT_ROOT / "assistant/web/static/widget.js").read_bytes(), "text/javascript")
        if h.path.startswith("/api/") and self.upstream:
            status, _, body = request(self.upstream + h.path)
            return self._send(h, status, body)
        self._send(h, 200, self.page.encode(), "text/html; charset=utf-8")

    def _post(self, h) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if h.path == "/api/ask/stream" and self.mode == "stall":
            self.release.wait(60)  # answers nothing until the test ends; the widget gives up first
            return self._send(h, 503, b'{"error": "stalled"}')
        if h.path == "/api/ask/stream" and self.mode == "fail":
            return self._send(h, 500, b'{"error": "Internal Server Error"}')
        status, headers, answer = request(self.upstream + h.path, method="POST", raw=body)
        self._send(h, status, answer, headers.get("content-type", "application/json"))


@pytest.fixture(scope="module")
def site():
    s = Site()
    yield s
    s.close()


@pytest.fixture(scope="module")
def server(real_settings, real_embedder, real_index_report, tmp_path_factory, site):
    settings = replace(real_settings, allowed_origins=site.url, rate_limit=100_000, clinic_phone=PHONE,
                       clinic_contact_url=BOOKING, widget_title=TITLE, widget_greeting=GREETING,
                       widget_starters="How many sessions will I need?|Is it permanent?", widget_accent="#225588")
    with serving(settings, real_embedder, tmp_path_factory.mktemp("feedback") / "f.sqlite3") as info:
        yield info


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


# --- driving the widget through its shadow root ---------------------------------------------

def _root(driver):
    """The widget's (open) shadow root, once the script has run."""
    from selenium.webdriver.common.by import By

    return wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, HOST) and d.find_element(By.CSS_SELECTOR, HOST).shadow_root)


def _find(driver, selector):
    from selenium.webdriver.common.by import By

    return _root(driver).find_element(By.CSS_SELECTOR, selector)


def _all(driver, selector):
    from selenium.webdriver.common.by import By

    return _root(driver).find_elements(By.CSS_SELECTOR, selector)


def _open(driver):
    if _find(driver, "#mnw-bubble").get_attribute("aria-expanded") != "true":
        _find(driver, "#mnw-bubble").click()
    wait(driver, lambda d: _find(d, "#mnw-panel").is_displayed())


def _settled(driver, before):
    bots = _all(driver, ".mnw-bot")
    return len(bots) > before and bots[-1].get_attribute("data-status") != "pending" and bots[-1]


def _widget_ask(driver, question):
    before = len(_all(driver, ".mnw-bot"))
    _find(driver, "#mnw-input").send_keys(question)
    _find(driver, "#mnw-send").click()
    # The reply box appears at once (typing dots), fills as sentences stream in, and is done
    # when it has a status.
    return wait(driver, lambda d: _settled(d, before))


def _style(driver, element, prop):
    return driver.execute_script("return getComputedStyle(arguments[0]).getPropertyValue(arguments[1])", element, prop)


def _rect(driver, element):
    return driver.execute_script("var r = arguments[0].getBoundingClientRect();"
                                 "return {top: r.top, left: r.left, width: r.width, height: r.height, bottom: r.bottom};",
                                 element)


def _active_id(driver):
    return driver.execute_script(f"var a = document.querySelector('{HOST}').shadowRoot.activeElement;"
                                 "return a ? a.id : null;")


# --- configuration -------------------------------------------------------------------------

def test_widget_config_comes_from_settings(server, site):
    status, config = request_json(server["url"] + "/api/widget-config", headers={"Origin": site.url})
    assert status == 200
    assert config == {"title": TITLE, "greeting": GREETING, "accent": "#225588",
                      "position": "right", "starters": ["How many sessions will I need?", "Is it permanent?"],
                      "phone": PHONE, "contact_url": BOOKING, "retention_days": 90}
    _, headers, _ = request(server["url"] + "/api/widget-config", headers={"Origin": site.url})
    assert headers.get("access-control-allow-origin") == site.url


# --- a hostile host page on another origin -------------------------------------------------

def test_widget_on_a_host_page(server, site, browser):
    """Global !important rules and the widget's class names on the page change nothing inside
    it; the data- attributes win over the server's configuration; a whole conversation works."""
    site.host_page(server["url"] + "/widget.js", title="Ask Radiance", accent="#0b6e4f")
    browser.get(site.url + "/")
    try:
        bubble = _find(browser, "#mnw-bubble")
        wait(browser, lambda d: _find(d, ".mnw-root").get_attribute("data-config") == "loaded")
        # The page's rules do not reach in: the bubble is a 60 px accent circle in the corner.
        assert bubble.is_displayed()
        assert (_style(browser, bubble, "position"), _style(browser, bubble, "width"),
                _style(browser, bubble, "border-radius")) == ("fixed", "60px", "50%")
        assert _style(browser, bubble, "background-color") == "rgb(11, 110, 79)"  # data-accent, not the server's
        rect = _rect(browser, bubble)
        width = browser.execute_script("return document.documentElement.clientWidth")
        assert rect["left"] + rect["width"] == pytest.approx(width - 20, abs=1)
        # ...and nothing gets out: the site's own element with the widget's class names is untouched.
        look_alike = browser.find_element("id", "look-alike")
        assert _style(browser, look_alike, "background-color") == "rgb(255, 255, 0)"
        assert _style(browser, look_alike, "border-radius") == "0px"

        _open(browser)
        assert bubble.get_attribute("aria-expanded") == "true"
        assert bubble.get_attribute("aria-controls") == "mnw-panel"
        panel = _find(browser, "#mnw-panel")
        assert _style(browser, panel, "font-size") == "15px" and "Comic" not in _style(browser, panel, "font-family")
        field = _find(browser, "#mnw-input")
        assert (_style(browser, field, "font-size"), _style(browser, field, "border-top-style")) == ("16px", "solid")
        assert _rect(browser, field)["height"] >= 44
        assert _find(browser, "#mnw-title").text == "Ask Radiance"  # data- attribute
        assert _find(browser, "#mnw-greeting").text == GREETING  # server config
        chips = _all(browser, "#mnw-starters button")
        assert [c.text for c in chips] == ["How many sessions will I need?", "Is it permanent?"]
        assert all(_rect(browser, c)["height"] >= 44 for c in chips)
        assert all(_rect(browser, b)["height"] >= 44 and _rect(browser, b)["width"] >= 44
                   for b in _all(browser, ".mnw-head button"))
        browser.save_screenshot(str(ARTIFACTS / "widget-hostile-open.png"))

        # A starter chip sends its question.
        chips[0].click()
        first = wait(browser, lambda d: _settled(d, 0))
        assert _all(browser, ".mnw-user")[0].text == "How many sessions will I need?"
        assert first.get_attribute("data-status") == "answered"
        assert not _find(browser, "#mnw-starters").is_displayed()

        reply = _widget_ask(browser, "How long do microneedling results last?")
        assert reply.get_attribute("data-status") == "answered"
        from selenium.webdriver.common.by import By

        refs = reply.find_elements(By.CSS_SELECTOR, ".mnw-answer button.mnw-ref")
        assert refs and refs[0].text == "[1]" and refs[0].accessible_name == "Source 1"
        sources = reply.find_element(By.CSS_SELECTOR, "details.mnw-sources")
        summary = sources.find_element(By.CSS_SELECTOR, "summary")
        items = sources.find_elements(By.CSS_SELECTOR, "li")
        assert summary.text == f"Sources ({len(items)})" and sources.get_attribute("open") is None
        # A marker opens its source: document title and section, never a file name.
        refs[0].click()
        wait(browser, lambda d: sources.get_attribute("open") is not None)
        assert items[0].is_displayed() and "mnw-hit" in items[0].get_attribute("class")
        assert ".txt" not in reply.text and items[0].find_element(By.CSS_SELECTOR, ".mnw-src-title").text
        # The quote is left out where the answer already shows it word for word.
        answer_text = " ".join(reply.find_element(By.CSS_SELECTOR, ".mnw-answer").text.split())
        for quote in reply.find_elements(By.CSS_SELECTOR, ".mnw-quote"):
            assert " ".join(quote.text.split()) not in answer_text
        caveats = reply.find_elements(By.CSS_SELECTOR, ".mnw-caveat")
        assert [c.text for c in caveats] == [CAVEAT]
        # Votes: names are their visible text; at least 24 px.
        up = reply.find_element(By.CSS_SELECTOR, "[data-vote='up']")
        assert up.accessible_name == "Helpful" and "Helpful" in up.text and _rect(browser, up)["height"] >= 24
        up.click()
        votes = reply.find_element(By.CSS_SELECTOR, ".mnw-votes")
        wait(browser, lambda d: votes.get_attribute("data-voted"))
        assert votes.get_attribute("data-voted") == "up"
        db = sqlite3.connect(server["feedback"].path)
        rows = db.execute("SELECT question, vote, channel FROM votes WHERE vote = 'up'").fetchall()
        assert ("How long do microneedling results last?", "up", "widget") in rows
        asked = db.execute("SELECT channel FROM questions WHERE question = 'How long do microneedling results last?'")
        assert ("widget",) in asked.fetchall()  # the clinic's report tells the widget's questions apart

        # Refused, or met with the closest passages only (the fitted calibration decides which):
        # either way not an answer, so it offers the clinic's phone and booking page, and neither
        # the caveat nor votes (it answers nothing they could qualify or rate).
        refusal = _widget_ask(browser, "How much does it cost?")
        assert refusal.get_attribute("data-status") in NOT_ANSWERED
        assert not refusal.find_elements(By.CSS_SELECTOR, ".mnw-caveat, .mnw-votes")
        assert [a.get_attribute("href") for a in refusal.find_elements(By.CSS_SELECTOR, ".mnw-contact a")] == [
            "tel:+442079460000", BOOKING]
        assert not reply.find_elements(By.CSS_SELECTOR, ".mnw-contact")  # the answer above offers none

        # Urgent: stands out, a tel: link to the configured number, no caveat under it.
        urgent = _widget_ask(browser, "there is pus and spreading redness")
        assert urgent.get_attribute("data-status") == "urgent"
        assert not urgent.find_elements(By.CSS_SELECTOR, ".mnw-caveat")
        call = urgent.find_element(By.CSS_SELECTOR, "a.mnw-call")
        assert call.get_attribute("href") == "tel:+442079460000" and PHONE in call.text
        assert _style(browser, urgent, "border-top-color") == "rgb(179, 38, 30)"
        assert urgent.find_element(By.CSS_SELECTOR, ".mnw-icon").get_attribute("aria-hidden") == "true"
        # The live region holds the new reply only, said once: not the log, not the question.
        wait(browser, lambda d: _find(d, "#mnw-announce").get_attribute("textContent"))
        said = _find(browser, "#mnw-announce").get_attribute("textContent")
        assert said.startswith("Urgent: This could be a complication") and PHONE in said
        assert "How much does it cost" not in said and "front desk" not in said
        assert _find(browser, "#mnw-log").get_attribute("aria-live") is None

        # Markup in a question is shown as text and never runs.
        hostile = "<img src=x onerror=\"window.__pwned=1\"> is it permanent?"
        _widget_ask(browser, hostile)
        assert browser.execute_script("return window.__pwned === undefined")
        assert _all(browser, ".mnw-user")[-1].text == hostile
        assert not _all(browser, "#mnw-log img")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "widget-hostile.png"))


def test_a_new_answer_is_shown_from_its_start(server, site, browser):
    """A reply taller than the log is scrolled to its first line, not to its footnotes."""
    site.host_page(server["url"] + "/widget.js")
    browser.get(site.url + "/")
    browser.set_window_size(700, 440)  # a short panel, so the reply does not fit
    try:
        _open(browser)
        _find(browser, "#mnw-new").click()
        _widget_ask(browser, "How many sessions will I need?")
        reply = _widget_ask(browser, "How long do microneedling results last?")
        log = _find(browser, "#mnw-log")
        assert _rect(browser, reply)["height"] > _rect(browser, log)["height"]
        assert abs(_rect(browser, reply)["top"] - _rect(browser, log)["top"]) <= 16
        scrolled = browser.execute_script("return [arguments[0].scrollTop + arguments[0].clientHeight,"
                                          " arguments[0].scrollHeight]", log)
        assert scrolled[0] < scrolled[1] - 20  # not at the bottom, where the caveat and votes are
    finally:
        browser.save_screenshot(str(ARTIFACTS / "widget-scroll.png"))
        browser.set_window_size(1280, 1000)


def test_the_conversation_survives_reloads_until_new_chat(server, site, browser):
    site.host_page(server["url"] + "/widget.js")
    browser.get(site.url + "/")
    _open(browser)
    _find(browser, "#mnw-new").click()
    assert not _all(browser, ".mnw-msg")
    reply = _widget_ask(browser, "How long do microneedling results last?")
    answer = reply.text

    browser.refresh()
    _open(browser)
    assert [m.text for m in _all(browser, ".mnw-user")] == ["How long do microneedling results last?"]
    assert _all(browser, ".mnw-bot")[0].text == answer
    assert not _find(browser, "#mnw-starters").is_displayed()

    browser.get(site.url + "/other")  # another page of the same site
    _open(browser)
    assert _all(browser, ".mnw-bot")[0].get_attribute("data-status") == "answered"
    # The follow-up is asked with the history, and that is kept too.
    follow = _widget_ask(browser, "how many sessions for that?")
    assert follow.get_attribute("data-status") == "answered"
    stored = json.loads(browser.execute_script(
        "return sessionStorage.getItem(arguments[0])", "mn-assistant:" + server["url"]))
    assert stored["history"] == ["How long do microneedling results last?", "how many sessions for that?"]

    _find(browser, "#mnw-new").click()
    assert not _all(browser, ".mnw-msg") and _find(browser, "#mnw-starters").is_displayed()
    assert _active_id(browser) == "mnw-input"
    browser.refresh()
    _open(browser)
    assert not _all(browser, ".mnw-msg")


def test_escape_closes_and_focus_returns_to_the_bubble(server, site, browser):
    from selenium.webdriver.common.keys import Keys

    # In the left corner, and with a colour that is not a hex colour (ignored: the server's is used).
    site.host_page(server["url"] + "/widget.js", position="left", accent="red;background:url(//evil.example)")
    browser.get(site.url + "/")
    bubble = _find(browser, "#mnw-bubble")
    wait(browser, lambda d: _find(d, ".mnw-root").get_attribute("data-config") == "loaded")
    assert _rect(browser, bubble)["left"] == 20
    assert _style(browser, bubble, "background-color") == "rgb(34, 85, 136)"  # WIDGET_ACCENT=#225588
    assert bubble.get_attribute("aria-expanded") == "false" and not _find(browser, "#mnw-panel").is_displayed()
    _open(browser)
    assert bubble.get_attribute("aria-expanded") == "true" and _active_id(browser) == "mnw-input"
    _find(browser, "#mnw-input").send_keys(Keys.ESCAPE)
    wait(browser, lambda d: not _find(d, "#mnw-panel").is_displayed())
    assert bubble.get_attribute("aria-expanded") == "false" and _active_id(browser) == "mnw-bubble"
    # The close button does the same.
    _open(browser)
    _find(browser, "#mnw-close").click()
    wait(browser, lambda d: not _find(d, "#mnw-panel").is_displayed())
    assert _active_id(browser) == "mnw-bubble"


def test_on_a_phone_the_panel_is_the_whole_screen_and_the_page_stays_put(server, site):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    site.host_page(server["url"] + "/widget.js")
    driver = chromium(390, 844)
    # Chromium's window is at least 500 px wide: the phone is emulated (390×844 CSS px, touch).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        driver.get(site.url + "/")
        _open(driver)
        width, height = driver.execute_script("return [innerWidth, innerHeight]")
        panel = _rect(driver, _find(driver, "#mnw-panel"))
        assert (panel["top"], panel["left"], panel["width"], panel["height"]) == (0, 0, width, height)
        assert _style(driver, driver.find_element("tag name", "html"), "overflow-y") == "hidden"
        # Modal there: Tab from the last control comes back to the first one inside the panel.
        assert _find(driver, "#mnw-panel").get_attribute("aria-modal") == "true"
        from selenium.webdriver.common.keys import Keys

        driver.execute_script("arguments[0].focus()", _find(driver, "#mnw-send"))
        ActionChains(driver).send_keys(Keys.TAB).perform()
        assert _active_id(driver) == "mnw-new"
        reply = _widget_ask(driver, "How long do microneedling results last?")
        from selenium.webdriver.common.by import By

        for button in reply.find_elements(By.CSS_SELECTOR, ".mnw-votes button, summary"):
            assert _rect(driver, button)["height"] >= 44
        driver.save_screenshot(str(ARTIFACTS / "widget-phone.png"))
        if os.environ.get("WRITE_DOCS_SCREENSHOTS"):
            driver.save_screenshot(str(DOCS / "widget-phone.png"))
        # Wheel over the panel's header, then over the conversation: the conversation scrolls
        # (so the wheel events were handled, in order), the page behind does not.
        _widget_ask(driver, "Is it permanent?")
        log = _find(driver, "#mnw-log")
        driver.execute_script("arguments[0].scrollTop = 0", log)
        ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(_find(driver, ".mnw-head")), 0, 800).perform()
        ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(log), 0, 5000).perform()
        wait(driver, lambda d: d.execute_script(
            "var l = arguments[0]; return l.scrollTop + l.clientHeight >= l.scrollHeight - 1", log))
        assert driver.execute_script("return scrollY") == 0
        # Closed, the page scrolls again (so the check above could fail).
        _find(driver, "#mnw-close").click()
        assert _style(driver, driver.find_element("tag name", "html"), "overflow-y") != "hidden"
        ActionChains(driver).scroll_from_origin(ScrollOrigin.from_viewport(100, 400), 0, 800).perform()
        wait(driver, lambda d: d.execute_script("return scrollY") > 0)
    finally:
        driver.save_screenshot(str(ARTIFACTS / "widget-phone-last.png"))
        driver.quit()


# --- replies that are not an answer: the closest passages ----------------------------------

@pytest.fixture(scope="module")
def closest_server(real_settings, real_embedder, real_index_report, tmp_path_factory, site):
    """The app on a calibration that grades every in-scope question "closest" (see closest_settings)."""
    folder = tmp_path_factory.mktemp("closest")
    settings = replace(closest_settings(real_settings, folder), allowed_origins=site.url, rate_limit=100_000,
                       clinic_phone=PHONE, clinic_contact_url=BOOKING)
    with serving(settings, real_embedder, folder / "f.sqlite3") as info:
        yield info


def test_closest_passages_are_labelled_cited_and_offer_the_phone_and_booking_page(closest_server, site, browser):
    from selenium.webdriver.common.by import By

    site.host_page(closest_server["url"] + "/widget.js")
    browser.get(site.url + "/")
    try:
        wait(browser, lambda d: _find(d, ".mnw-root").get_attribute("data-config") == "loaded")
        _open(browser)
        _find(browser, "#mnw-new").click()
        reply = _widget_ask(browser, "How long do microneedling results last?")
        assert reply.get_attribute("data-status") == "closest" and "mnw-closest" in reply.get_attribute("class")
        # Said plainly not to be an answer, before the quotes, and set apart from an answer's look.
        assert reply.find_element(By.CSS_SELECTOR, ".mnw-label").text == "No direct answer"
        assert reply.find_element(By.CSS_SELECTOR, ".mnw-answer").text.startswith(CLOSEST_LEAD)
        assert _style(browser, reply, "border-left-width") == "4px"
        # Its citations work as an answer's: markers open the folded sources.
        refs = reply.find_elements(By.CSS_SELECTOR, ".mnw-answer button.mnw-ref")
        items = reply.find_elements(By.CSS_SELECTOR, "details.mnw-sources li")
        assert refs and refs[0].text == "[1]" and 1 <= len(items) <= 2
        refs[0].click()
        wait(browser, lambda d: reply.find_element(By.CSS_SELECTOR, "details").get_attribute("open") is not None)
        assert items[0].is_displayed() and items[0].find_element(By.CSS_SELECTOR, ".mnw-src-title").text
        # The way to a person: the phone as a tel: link, the booking page in a new tab.
        call, booking = reply.find_elements(By.CSS_SELECTOR, ".mnw-contact a")
        assert call.get_attribute("href") == "tel:+442079460000" and PHONE in call.text
        assert booking.get_attribute("href") == BOOKING and booking.get_attribute("target") == "_blank"
        assert booking.get_attribute("rel") == "noopener" and booking.text.startswith("Book or contact us online")
        assert booking.accessible_name == "Book or contact us online (opens in a new tab)"
        assert _rect(browser, booking)["height"] >= 24
        # Not an answer: no caveat and no votes under it, and the callback form offered.
        assert not reply.find_elements(By.CSS_SELECTOR, ".mnw-caveat, .mnw-votes")
        assert reply.find_element(By.CSS_SELECTOR, ".mnw-leave-open").text == "Leave your question and how to reach you"
        wait(browser, lambda d: _find(d, "#mnw-announce").get_attribute("textContent"))
        assert _find(browser, "#mnw-announce").get_attribute("textContent").startswith("No direct answer. ")
        assert axe_violations(browser, include=HOST) == []  # the widget only: the page is ugly on purpose

        # Drawn again from sessionStorage after a reload, it gets the server's phone and link once
        # the configuration has come.
        browser.refresh()
        wait(browser, lambda d: _find(d, ".mnw-root").get_attribute("data-config") == "loaded")
        _open(browser)
        restored = _all(browser, ".mnw-bot")[-1]
        assert restored.find_element(By.CSS_SELECTOR, ".mnw-label").text == "No direct answer"
        assert [a.get_attribute("href") for a in _all(browser, ".mnw-bot .mnw-contact a")] == [
            "tel:+442079460000", BOOKING]
    finally:
        browser.save_screenshot(str(ARTIFACTS / "widget-closest.png"))


@pytest.mark.parametrize("attribute, shown", [
    ("https://radiance.example/contact-us", "https://radiance.example/contact-us"),  # the tag wins
    ("javascript:alert(1)", BOOKING),  # not a web address: ignored, the server's is kept
    ('https://radiance.example/" onclick="alert(1)', BOOKING),
])
def test_data_contact_url_overrides_the_server_only_with_a_web_address(closest_server, site, browser,
                                                                       attribute, shown):
    from selenium.webdriver.common.by import By

    site.host_page(closest_server["url"] + "/widget.js", **{"contact-url": attribute})
    browser.get(site.url + "/")
    wait(browser, lambda d: _find(d, ".mnw-root").get_attribute("data-config") == "loaded")
    _open(browser)
    _find(browser, "#mnw-new").click()
    reply = _widget_ask(browser, "Is it permanent?")
    assert reply.get_attribute("data-status") in NOT_ANSWERED
    links = reply.find_elements(By.CSS_SELECTOR, ".mnw-contact a:not([href^='tel:'])")
    assert [a.get_attribute("href") for a in links] == [shown]
    assert not reply.find_elements(By.CSS_SELECTOR, "[onclick]")
    assert browser.execute_script("return window.__pwned === undefined")


# --- the callback form under a reply that is not an answer ---------------------------------

def _contact_rows(server, question):
    db = sqlite3.connect(server["feedback"].path)
    try:
        return db.execute("SELECT name, email, phone, channel FROM contact_requests WHERE question = ?",
                          (question,)).fetchall()
    finally:
        db.close()


def test_a_reply_that_is_not_an_answer_offers_the_callback_form(server, site, browser):
    """On the hostile page: the form opens under the reply with the question filled in, the
    server's problems are shown by their fields (nothing stored), a valid request is stored with
    the widget as its channel, and the thank-you stays with the reply after a reload."""
    from selenium.webdriver.common.by import By

    from assistant.web.contact import THANKS

    question = "How much does it cost?"
    site.host_page(server["url"] + "/widget.js")
    browser.get(site.url + "/")
    try:
        wait(browser, lambda d: _find(d, ".mnw-root").get_attribute("data-config") == "loaded")
        _open(browser)
        _find(browser, "#mnw-new").click()
        reply = _widget_ask(browser, question)
        assert reply.get_attribute("data-status") in NOT_ANSWERED
        assert not reply.find_elements(By.CSS_SELECTOR, ".mnw-caveat, .mnw-votes")
        toggle = reply.find_element(By.CSS_SELECTOR, ".mnw-leave-open")
        form = reply.find_element(By.CSS_SELECTOR, "form.mnw-cf")
        assert toggle.get_attribute("aria-expanded") == "false" and not form.is_displayed()
        assert _rect(browser, toggle)["height"] >= 44
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true" and form.is_displayed()
        assert toggle.get_attribute("aria-controls") == form.get_attribute("id")
        field = form.find_element(By.CSS_SELECTOR, "textarea")
        assert field.get_attribute("value") == question and _active_id(browser) == field.get_attribute("id")
        assert "deleted after 90 days" in form.text  # the server's retention, in the consent
        email, phone = (form.find_element(By.CSS_SELECTOR, f"input[type='{t}']") for t in ("email", "tel"))
        assert _style(browser, email, "font-size") == "16px" and _rect(browser, email)["height"] >= 44

        # Sent with no way to reach and no consent: each problem by its field; nothing stored.
        form.find_element(By.CSS_SELECTOR, ".mnw-cf-send").click()
        wait(browser, lambda d: form.find_element(By.CSS_SELECTOR, ".mnw-cf-error").text)
        assert email.get_attribute("aria-invalid") == "true" and phone.get_attribute("aria-invalid") == "true"
        problem = form.find_element(By.ID, email.get_attribute("aria-describedby"))
        assert problem.text.startswith("Give an e-mail address or a phone number")
        consent = form.find_element(By.CSS_SELECTOR, "input[type='checkbox']")
        assert "Tick the box" in form.find_element(By.ID, consent.get_attribute("aria-describedby")).text
        assert _active_id(browser) == email.get_attribute("id")  # the first field to fix has the focus
        assert axe_violations(browser, include=HOST) == []
        browser.save_screenshot(str(ARTIFACTS / "widget-contact-problems.png"))
        # A bad address, then a good one with the consent.
        email.send_keys("grace@")
        consent.click()
        form.find_element(By.CSS_SELECTOR, ".mnw-cf-send").click()
        wait(browser, lambda d: "not an e-mail address" in form.text)
        assert consent.get_attribute("aria-invalid") is None and _contact_rows(server, question) == []
        email.clear()
        email.send_keys("grace@example.com")
        form.find_element(By.CSS_SELECTOR, "input[autocomplete='name']").send_keys("Grace Widget")
        form.find_element(By.CSS_SELECTOR, ".mnw-cf-send").click()
        thanks = wait(browser, lambda d: reply.find_elements(By.CSS_SELECTOR, ".mnw-sent"))[0]
        assert thanks.text == THANKS and not reply.find_elements(By.CSS_SELECTOR, "form.mnw-cf, .mnw-leave-open")
        wait(browser, lambda d: _find(d, "#mnw-announce").get_attribute("textContent") == THANKS)
        assert _contact_rows(server, question) == [("Grace Widget", "grace@example.com", "", "widget")]
        assert axe_violations(browser, include=HOST) == []
        browser.save_screenshot(str(ARTIFACTS / "widget-contact.png"))

        # The thank-you stays with the reply, drawn again from sessionStorage.
        browser.refresh()
        _open(browser)
        restored = _all(browser, ".mnw-bot")[-1]
        assert restored.find_element(By.CSS_SELECTOR, ".mnw-sent").text == THANKS
        assert not restored.find_elements(By.CSS_SELECTOR, ".mnw-leave-open")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "widget-contact-last.png"))


# --- errors: a site whose API stalls or fails ---------------------------------------------

@pytest.fixture
def flaky(server):
    s = Site(upstream=server["url"])
    s.host_page("/widget.js", timeout="2")
    yield s
    s.close()


def test_timeout_and_server_error_show_the_phone_and_retry_works(flaky, browser):
    from selenium.webdriver.common.by import By

    browser.get(flaky.url + "/")
    try:
        _open(browser)
        _find(browser, "#mnw-new").click()
        for mode, message in (("stall", "taking too long"), ("fail", "cannot answer right now")):
            flaky.mode = mode
            error = _widget_ask(browser, "How many sessions will I need?")
            assert error.get_attribute("data-status") == "error" and message in error.text
            # The server's configuration (through the site) gives the phone number.
            assert PHONE in error.text
            assert error.find_element(By.CSS_SELECTOR, "a[href^='tel:']").get_attribute("href") == "tel:+442079460000"
            assert _find(browser, "#mnw-log").get_attribute("aria-busy") == "false"
            assert axe_violations(browser, include=HOST) == []  # the widget only: the page is ugly on purpose
            flaky.mode = "ok"
            before = len(_all(browser, ".mnw-bot")) - 1
            error.find_element(By.CSS_SELECTOR, "button.mnw-retry").click()
            retried = wait(browser, lambda d: _settled(d, before))
            assert retried.get_attribute("data-status") == "answered"
        # Each retry answered the question once; the failed tries left no trace.
        assert [m.text for m in _all(browser, ".mnw-user")] == ["How many sessions will I need?"] * 2
        assert not _all(browser, "[data-status='error']")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "widget-error.png"))


def test_typing_indicator_and_aria_busy_while_waiting(flaky, browser):
    browser.get(flaky.url + "/")
    _open(browser)
    _find(browser, "#mnw-new").click()
    flaky.mode = "stall"
    _find(browser, "#mnw-input").send_keys("How many sessions will I need?")
    _find(browser, "#mnw-send").click()
    pending = _all(browser, ".mnw-bot")[-1]
    assert pending.get_attribute("data-status") == "pending" and _all(browser, ".mnw-typing i")
    assert _find(browser, "#mnw-log").get_attribute("aria-busy") == "true"
    wait(browser, lambda d: _all(d, ".mnw-bot")[-1].get_attribute("data-status") == "error")
    assert _find(browser, "#mnw-log").get_attribute("aria-busy") == "false"


# --- markup in the corpus, the history and the questions stays text ------------------------

@pytest.fixture(scope="module")
def markup_server(tmp_path_factory):
    with serving_markup_corpus(tmp_path_factory.mktemp("hostile")) as info:
        yield info


def test_markup_from_the_corpus_and_history_stays_text(markup_server, browser):
    browser.get(markup_server["url"] + "/examples/widget.html")
    try:
        _open(browser)
        _find(browser, "#mnw-new").click()
        reply = _widget_ask(browser, "how should I keep my skin clean after microneedling?")
        assert reply.get_attribute("data-status") == "answered"
        from selenium.webdriver.common.by import By

        assert "<img" in reply.find_element(By.CSS_SELECTOR, ".mnw-answer").text
        _widget_ask(browser, "and what about sun? <b>now</b>")  # history carries the markup question back
        reply = _all(browser, ".mnw-bot")[-1]
        reply.find_element(By.CSS_SELECTOR, "summary").click()
        assert not _all(browser, "#mnw-log img, #mnw-log b, #mnw-log script")
        assert browser.execute_script("return window.__pwned === undefined")
        # ...and still after a reload, when the conversation is drawn from sessionStorage.
        browser.refresh()
        _open(browser)
        assert "<b>now</b>" in _all(browser, ".mnw-user")[-1].text
        assert not _all(browser, "#mnw-log img, #mnw-log b, #mnw-log script")
        assert browser.execute_script("return window.__pwned === undefined")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "hostile-widget.png"))


# --- accessibility and the README's screenshot ----------------------------------------------

# Only the learned crisis reading fires on it, and the seed documents answer it.
ALERTED = "honestly some days i wish i could just disappear because of my scars, does microneedling work on acne scars"


def test_open_panel_with_replies_has_no_serious_accessibility_violations(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server["url"] + "/examples/widget.html")
    try:
        assert axe_violations(browser) == []  # closed: the bubble alone
        _open(browser)
        _find(browser, "#mnw-new").click()
        assert axe_violations(browser) == []  # greeting and starter chips
        for question in ("How long do microneedling results last?", "How much does it cost?",
                         "there is pus and spreading redness", ALERTED):
            _widget_ask(browser, question)
        statuses = [b.get_attribute("data-status") for b in _all(browser, ".mnw-bot")]
        assert statuses[0] == "answered" and statuses[1] in NOT_ANSWERED and statuses[2] == "urgent"
        # An answer with the crisis message first: the message and the number above the quotes,
        # the caveat and the votes under them.
        alerted = _all(browser, ".mnw-bot")[3]
        assert statuses[3] == "answered" and alerted.find_elements(By.CSS_SELECTOR, ".mnw-caveat, .mnw-votes")
        box = alerted.find_element(By.CSS_SELECTOR, ".mnw-alert")
        assert "988" in box.text and box.find_element(By.CSS_SELECTOR, "a.mnw-call").get_attribute("href").startswith("tel:")
        assert alerted.text.index("988") < alerted.text.index(alerted.find_element(By.CSS_SELECTOR, ".mnw-answer").text)
        _all(browser, ".mnw-bot")[0].find_element(By.CSS_SELECTOR, "summary").click()
        assert axe_violations(browser) == []
    finally:
        browser.save_screenshot(str(ARTIFACTS / "widget-axe.png"))


def test_screenshot_of_the_widget_with_an_answer(server, browser):
    """The README's picture, taken on the example page (set WRITE_DOCS_SCREENSHOTS=1 to update docs/)."""
    from selenium.webdriver.common.by import By

    browser.get(server["url"] + "/examples/widget.html")
    _open(browser)
    _find(browser, "#mnw-new").click()
    reply = _widget_ask(browser, "How long do microneedling results last?")
    reply.find_element(By.CSS_SELECTOR, "summary").click()
    assert reply.find_element(By.CSS_SELECTOR, "details").get_attribute("open") is not None
    browser.execute_script("arguments[0].scrollTop = arguments[1].offsetTop - 60", _find(browser, "#mnw-log"), reply)
    browser.save_screenshot(str(ARTIFACTS / "widget.png"))
    if os.environ.get("WRITE_DOCS_SCREENSHOTS"):
        browser.save_screenshot(str(DOCS / "widget.png"))


def test_a_source_opens_its_document_at_the_quote(server, site, browser):
    """On the clinic's site, a source's title opens the document's page on the assistant's server in
    a new tab, the quoted passage marked and scrolled to."""
    from selenium.webdriver.common.by import By

    site.host_page(server["url"] + "/widget.js")
    browser.get(site.url + "/")
    tabs = browser.window_handles
    try:
        _open(browser)
        _find(browser, "#mnw-new").click()
        reply = _widget_ask(browser, "How long do microneedling results last?")
        reply.find_element(By.CSS_SELECTOR, "summary").click()
        link = reply.find_elements(By.CSS_SELECTOR, ".mnw-sources a.mnw-src-title")[0]
        href = link.get_attribute("href")
        assert href.startswith(server["url"] + "/documents/") and href.endswith("#quote")
        assert link.get_attribute("target") == "_blank" and link.get_attribute("rel") == "noopener"
        link.click()
        wait(browser, lambda d: len(d.window_handles) > len(tabs))
        browser.switch_to.window([h for h in browser.window_handles if h not in tabs][0])
        mark = wait(browser, lambda d: d.find_element(By.ID, "quote"))
        assert mark.tag_name == "mark" and mark.text
        assert browser.execute_script("const r = arguments[0].getBoundingClientRect();"
                                      "return r.top >= 0 && r.bottom <= innerHeight;", mark)
        assert axe_violations(browser) == []
    finally:
        browser.save_screenshot(str(ARTIFACTS / "widget-document.png"))
        for handle in browser.window_handles:
            if handle not in tabs:
                browser.switch_to.window(handle)
                browser.close()
        browser.switch_to.window(tabs[0])
