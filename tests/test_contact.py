"""Callback requests ("leave your question and how to reach you"): the checks on their own, then the
whole app over real HTTP and in a real Chromium (on the fake embedder: what is tested here is the
form, not the answers). The API and the /contact page store a valid request and refuse bad ones
with a clear message and nothing stored; the per-address limit; the e-mail to the clinic received
by a local SMTP server (aiosmtpd, on loopback), a mail server that is down or hangs losing nothing;
the console's callback list and mark-done; the chat page's link; the CSV export without contact
details; axe-core clean. (The widget's form is in test_widget.py.)"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import socket
import sqlite3
import time
import urllib.parse
from dataclasses import replace

import pytest

from assistant.errors import ConfigError
from assistant.settings import Settings
from tests.conftest import CORPUS, HashingEmbedder, free_port
from tests.console_support import PASSWORDS, Client, make_account, sign_in_browser
from tests.web_support import ARTIFACTS, axe_violations, chromium, request, request_json, serving, wait

PHONE, BOOKING = "+44 20 7946 0000", "https://clinic.example/book"
VALID = {"question": "Can I have microneedling with rosacea?", "name": "Anna Bell", "email": "anna.bell@example.com",
         "phone": "020 7946 0000", "consent": True}
MAIL = dict(smtp_from="assistant@clinic.example", smtp_to="desk@clinic.example, owner@clinic.example",
            smtp_starttls=False, smtp_timeout=2.0)


def _until(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail("timed out waiting")


# --- the checks on their own ----------------------------------------------------------------

def test_a_request_is_cleaned_and_every_problem_is_named():
    from assistant.web.contact import ContactRefused, check_contact

    clean = check_contact(" Is it safe? ", " Anna ", " Anna.Bell@Example.COM ", "020 7946 0000", True, "chat", 1000,
                          "GB")
    assert (clean.question, clean.name, clean.email, clean.phone) == ("Is it safe?", "Anna", "Anna.Bell@example.com",
                                                                      "+44 20 7946 0000")
    assert check_contact("q", "", "", "+1 202-555-0143", True, "api", 1000, None).phone == "+1 202-555-0143"
    with pytest.raises(ContactRefused) as refused:
        check_contact("", "", "anna@", "12", False, "api", 1000, "GB")
    assert set(refused.value.problems) == {"question", "email", "phone", "consent"}
    # Without a region, a number must carry its country code; the message says so.
    with pytest.raises(ContactRefused, match="with its country code, starting with \\+"):
        check_contact("q", "", "", "020 7946 0000", True, "api", 1000, None)
    with pytest.raises(ContactRefused, match="like 0121 234 5678"):  # the library's example number for GB
        check_contact("q", "", "", "0000", True, "api", 1000, "GB")


def test_the_phone_region_comes_from_the_setting_or_the_clinics_number():
    from assistant.web.contact import phone_region

    settings = Settings.from_env({})
    assert phone_region(settings, "+44 20 7946 0000") == "GB"
    assert phone_region(settings, "(555) 010-2000") is None  # no "+": no region to read
    assert phone_region(replace(settings, contact_phone_region="us"), "+44 20 7946 0000") == "US"


def test_smtp_settings_are_checked_with_clear_messages():
    good = Settings.from_env({"SMTP_HOST": "smtp.clinic.example", "SMTP_FROM": "assistant@clinic.example",
                              "SMTP_TO": "desk@clinic.example,owner@clinic.example"})
    assert good.smtp_recipients == ["desk@clinic.example", "owner@clinic.example"] and good.smtp_starttls
    assert "smtp_password='" not in repr(replace(good, smtp_user="u", smtp_password="secret"))
    for env, says in (
        ({"SMTP_TO": "desk@clinic.example"}, "SMTP_TO set but SMTP_HOST is not"),
        ({"SMTP_HOST": "smtp.clinic.example", "SMTP_TO": "desk@clinic.example"}, "SMTP_FROM is not"),
        ({"SMTP_HOST": "smtp.clinic.example", "SMTP_FROM": "a@clinic.example"}, "SMTP_TO is not"),
        ({"SMTP_HOST": "smtp.clinic.example", "SMTP_FROM": "nobody", "SMTP_TO": "d@clinic.example"},
         "SMTP_FROM='nobody' is not an e-mail address"),
        ({"SMTP_HOST": "smtp://clinic.example", "SMTP_FROM": "a@clinic.example", "SMTP_TO": "d@clinic.example"},
         "without a scheme"),
        ({"SMTP_HOST": "smtp.clinic.example", "SMTP_FROM": "a@clinic.example", "SMTP_TO": "d@clinic.example",
          "SMTP_USER": "u"}, "SMTP_USER and SMTP_PASSWORD go together"),
        ({"SMTP_HOST": "smtp.clinic.example", "SMTP_FROM": "a@clinic.example", "SMTP_TO": "d@clinic.example",
          "SMTP_USER": "u", "SMTP_PASSWORD": "p", "SMTP_STARTTLS": "false"}, "in clear text"),
        ({"SMTP_HOST": "smtp.clinic.example", "SMTP_FROM": "a@clinic.example", "SMTP_TO": "d@clinic.example",
          "SMTP_PORT": "70000"}, "SMTP_PORT=70000 must be a port number"),
        ({"CONTACT_PHONE_REGION": "XX"}, "CONTACT_PHONE_REGION='XX' must be a two-letter region code"),
    ):
        with pytest.raises(ConfigError, match=re.escape(says)):
            Settings.from_env(env)


def test_callback_requests_are_purged_with_the_question_log(tmp_path):
    from assistant.web.contact import ContactRequest
    from assistant.web.feedback import FeedbackStore

    store = FeedbackStore(tmp_path / "f.sqlite3", retention_days=30)
    old = store.record_contact(ContactRequest("old one", "A", "a@example.com", "", "chat"))
    store.record_contact(ContactRequest("new one, mail me at b@example.com", "B", "b@example.com", "", "widget"))
    db = sqlite3.connect(tmp_path / "f.sqlite3")
    with db:
        db.execute("UPDATE contact_requests SET created_at = '2000-01-01T00:00:00+00:00' WHERE id = ?", (old,))
    assert store.purge() == 1
    rows = store.contact_requests()
    # The question is redacted like every stored question; the contact fields are kept, with consent.
    assert [(r["question"], r["email"]) for r in rows] == [("new one, mail me at [email]", "b@example.com")]
    assert store.contact_done(rows[0]["id"], "desk1") and not store.contact_done(rows[0]["id"], "desk1")


@pytest.fixture(scope="module")
def smtp():
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.envelopes = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append(envelope)
            return "250 OK"

    inbox, port = Inbox(), free_port()
    server = {"port": port, "inbox": inbox}

    def start():
        server["controller"] = Controller(inbox, hostname="127.0.0.1", port=port)
        server["controller"].start()

    server["start"] = start
    start()
    yield server
    server["controller"].stop(no_assert=True)


def _mail(inbox, needle: str):
    for envelope in inbox.envelopes:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        if needle in message.get_content():
            return envelope, message
    return None


def _request(name: str):
    from assistant.web.contact import ContactRequest

    return ContactRequest("Is it safe?", name, "anna@example.com", "", "api")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_starttls_is_required_by_default_and_a_login_is_sent(smtp, tmp_path):
    """STARTTLS on (the default) and a server that cannot do it: nothing is sent in clear text.
    A login is sent where one is configured (here on loopback, where the settings allow it without TLS)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from assistant.web.mailer import ClinicMailer

    settings = Settings.from_env({}, data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=smtp["port"],
                                 **(MAIL | {"smtp_starttls": True}))
    mailer = ClinicMailer(settings)
    assert mailer.send_later(mailer.message(_request("TLS Case"), 1, "http://x/admin/callbacks")).result(15) is False
    assert _mail(smtp["inbox"], "TLS Case") is None

    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"mail password")

    controller = Controller(smtp["inbox"], hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    try:
        settings = replace(settings, smtp_port=controller.port, smtp_starttls=False, smtp_user="assistant",
                           smtp_password="mail password")
        mailer = ClinicMailer(settings)
        assert mailer.send_later(mailer.message(_request("Login Case"), 2, "http://x")).result(15) is True
        assert logins == [(b"assistant", b"mail password")] and _mail(smtp["inbox"], "Login Case")
    finally:
        controller.stop()


def test_a_hanging_mail_server_times_out_in_the_background(tmp_path, caplog):
    """A server that takes the connection and never greets: the caller is not held, the send gives
    up after SMTP_TIMEOUT, and the log names the server, never the patient."""
    from assistant.web.mailer import ClinicMailer

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)  # connections wait in the backlog; nothing is ever said to them
    try:
        settings = Settings.from_env({}, data_dir=tmp_path, smtp_host="127.0.0.1",
                                     smtp_port=listener.getsockname()[1], **(MAIL | {"smtp_timeout": 0.5}))
        mailer = ClinicMailer(settings)
        results = []
        started = time.monotonic()
        future = mailer.send_later(mailer.message(_request("Hang Case"), 7, "http://x"), done=results.append)
        assert time.monotonic() - started < 0.2
        assert future.result(timeout=10) is False and results == [False]
        assert time.monotonic() - started < 5
    finally:
        listener.close()
    assert "#7" in caplog.text and "127.0.0.1" in caplog.text and "Hang Case" not in caplog.text


# --- the whole app over HTTP and in Chromium --------------------------------------------------

@pytest.fixture(scope="module")
def app(tmp_path_factory, smtp):
    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest

    root = tmp_path_factory.mktemp("contact")
    shutil.copytree(CORPUS, root / "corpus")
    # Loopback is a trusted proxy, so each test plays a client address of its own (X-Forwarded-For).
    settings = Settings.from_env({}, corpus_dir=root / "corpus", data_dir=root / "data", rate_limit=100_000,
                                 forwarded_allow_ips="127.0.0.1", clinic_phone=PHONE, clinic_contact_url=BOOKING,
                                 contact_rate_limit="3/hour", smtp_host="127.0.0.1", smtp_port=smtp["port"], **MAIL)
    embedder = HashingEmbedder()
    run_ingest(settings, embedder, ChromaIndex(open_client(settings), settings.collection), progress=False)
    make_account(settings.data_dir, "frontdesk", "staff")
    make_account(settings.data_dir, "manager", "admin")
    with serving(settings, embedder, settings.data_dir / "feedback.sqlite3") as info:
        yield info | {"settings": settings}


@pytest.fixture(scope="module")
def browser():
    driver = chromium(1280, 1000)
    yield driver
    driver.quit()


def _post(app, body, address):
    return request_json(app["url"] + "/api/contact", method="POST", body=body, headers={"X-Forwarded-For": address})


def _rows(app, **match):
    return [r for r in app["feedback"].contact_requests() if all(r[k] == v for k, v in match.items())]


@pytest.mark.integration
def test_the_api_stores_a_valid_request_and_emails_it_to_the_clinic(app, smtp):
    from assistant.web.contact import THANKS

    status, data = _post(app, VALID | {"question": "Can I have it with rosacea? Mail me at anna.b@example.com",
                                       "email": " Anna.Bell@Example.COM ", "channel": "widget"}, "10.1.0.1")
    assert status == 201 and data == {"stored": True, "message": THANKS}
    [row] = _rows(app, name="Anna Bell")
    assert (row["question"], row["email"], row["phone"], row["channel"]) == (
        "Can I have it with rosacea? Mail me at [email]", "Anna.Bell@example.com", "+44 20 7946 0000", "widget")
    envelope, message = _until(lambda: _mail(smtp["inbox"], "Anna Bell"))
    assert envelope.mail_from == "assistant@clinic.example"
    assert envelope.rcpt_tos == ["desk@clinic.example", "owner@clinic.example"]
    assert message["Subject"] == f"Callback request from the assistant (#{row['id']})"
    assert message["Reply-To"] == "Anna.Bell@example.com"
    body = message.get_content()
    for shown in ("Mail me at [email]", "Name: Anna Bell", "E-mail: Anna.Bell@example.com", "Phone: +44 20 7946 0000",
                  "the website widget", app["url"] + "/admin/callbacks", "kept for 90 days"):
        assert shown in body
    assert _until(lambda: _rows(app, name="Anna Bell")[0]["mailed"] == "sent")


@pytest.mark.integration
@pytest.mark.parametrize("change, field, says", [
    ({"consent": False}, "consent", "Tick the box to agree"),
    ({"email": "anna@", "phone": ""}, "email", "That is not an e-mail address the clinic can write to"),
    ({"email": "anna@example", "phone": ""}, "email", "It should have a period"),
    ({"email": "", "phone": "12345"}, "phone", "That phone number is not valid: check its digits"),
    ({"email": "", "phone": "call me"}, "phone", "That is not a phone number"),
    ({"email": "", "phone": ""}, "contact", "Give an e-mail address or a phone number"),
    ({"question": "   "}, "question", "Write the question"),
    ({"question": "x" * 1001}, "question", "Your question is 1001 characters long: keep it to 1000 at most"),
    ({"name": "n" * 101}, "name", "Your name is 101 characters long: keep it to 100 at most"),
    ({"email": "a" * 250 + "@example.com"}, "email", "The e-mail address is 262 characters long"),
    ({"phone": "0" * 41}, "phone", "The phone number is 41 characters long"),
    ({"name": "Anna\u0000Bell"}, "name", "holds characters that are not text"),
])
def test_a_bad_request_is_refused_with_a_clear_message_and_nothing_stored(app, change, field, says):
    before = len(_rows(app))
    status, data = _post(app, VALID | change, "10.2.0.1")
    assert status == 400 and says in data["problems"][field] and says in data["error"], data
    assert len(_rows(app)) == before


@pytest.mark.integration
def test_malformed_requests_get_a_4xx_and_nothing_stored(app):
    before = len(_rows(app))
    raw = b'{"question": "is it \\ud800 safe?", "email": "a@example.com", "consent": true}'
    status, _, body = request(app["url"] + "/api/contact", method="POST", raw=raw, headers={"X-Forwarded-For": "10.2.1.1"})
    assert status == 400 and b"not text" in body
    assert _post(app, VALID | {"consent": "yes"}, "10.2.1.1")[0] == 422  # a real true, not a word for it
    assert _post(app, VALID | {"extra": 1}, "10.2.1.1")[0] == 422
    # Only JSON: a page of another site cannot send this without the CORS preflight.
    status, _, _ = request(app["url"] + "/api/contact", method="POST", raw=b"question=x&consent=true",
                           headers={"Content-Type": "text/plain", "X-Forwarded-For": "10.2.1.1"})
    assert status == 422
    assert len(_rows(app)) == before


@pytest.mark.integration
def test_the_limit_per_address_refuses_and_stores_nothing(app):
    address = "10.3.0.1"
    for n in range(3):
        assert _post(app, VALID | {"name": f"Limit {n}"}, address)[0] == 201
    before = len(_rows(app))
    status, headers, body = request(app["url"] + "/api/contact", method="POST", body=VALID | {"name": "Limit 3"},
                                    headers={"X-Forwarded-For": address})
    assert status == 429 and "Too many requests from this connection" in body.decode()
    assert 0 < int(headers["retry-after"]) <= 3600
    # The page counts with the API, and says the same.
    client = Client(app["url"], address)
    status, _, page = client.post_form("/contact", _form(client, VALID | {"name": "Limit 4", "consent": "yes"}),
                                       csrf=False)
    assert status == 429 and "Too many requests from this connection" in page
    assert len(_rows(app)) == before and not _rows(app, name="Limit 3") and not _rows(app, name="Limit 4")
    assert _post(app, VALID | {"name": "Other address"}, "10.3.0.2")[0] == 201  # another address is not held


def _form(client, values: dict) -> dict:
    """The /contact form's fields as a browser sends them, with the token of a page just loaded."""
    _, _, page = client.get("/contact")
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    fields = {"token": token, "channel": "chat"} | {k: v for k, v in values.items() if k != "consent"}
    if values.get("consent") in (True, "yes"):
        fields["consent"] = "yes"
    return fields


@pytest.mark.integration
def test_the_contact_page_works_without_script(app):
    from assistant.web.contact import THANKS

    client = Client(app["url"], "10.4.0.1")
    question = "Is it safe with <b>rosacea</b> & eczema?"
    status, headers, page = client.get("/contact?" + urllib.parse.urlencode({"question": question, "channel": "chat"}))
    assert status == 200 and "content-security-policy" in {k.lower() for k in headers}
    assert "Is it safe with &lt;b&gt;rosacea&lt;/b&gt; &amp; eczema?</textarea>" in page and "<b>" not in page
    assert 'href="tel:+442079460000"' in page and f'href="{BOOKING}"' in page and "deleted after 90 days" in page

    # Without consent: the form again, what was typed kept, the problem by its field; nothing stored.
    values = {"question": question, "name": "Cara Page", "email": "cara@example.com", "phone": ""}
    status, _, page = client.post_form("/contact", _form(client, values), csrf=False)
    assert status == 400 and 'role="alert"' in page and "Tick the box to agree" in page
    assert 'value="Cara Page"' in page and 'aria-describedby="consent-problem"' in page and not _rows(app, name="Cara Page")

    status, headers, _ = client.post_form("/contact", _form(client, values | {"consent": "yes"}), csrf=False)
    assert status == 303 and headers["location"] == "contact?sent=1&channel=chat"
    status, _, page = client.get("/" + headers["location"])
    assert status == 200 and THANKS in page and 'href="./"' in page
    [row] = _rows(app, name="Cara Page")
    assert (row["question"], row["channel"], row["email"]) == (question, "chat", "cara@example.com")

    # A post that is not from this site's own form: no token, another address's token, or a
    # browser saying it comes from another site. Refused, with the form to send again; nothing stored.
    other = Client(app["url"], "10.4.0.2")
    for fields, extra in (({k: v for k, v in _form(client, values | {"consent": "yes"}).items() if k != "token"}, {}),
                          (_form(other, values | {"consent": "yes"}), {}),
                          (_form(client, values | {"consent": "yes"}), {"Sec-Fetch-Site": "cross-site"})):
        status, _, page = client.request("/contact", "POST", urllib.parse.urlencode(fields | {"name": "Forged"}).encode(),
                                         {"Content-Type": "application/x-www-form-urlencoded"} | extra)
        assert status == 403 and "did not come from this site" in page and 'value="Forged"' in page
    assert not _rows(app, name="Forged")


@pytest.mark.integration
def test_a_mail_server_that_is_down_loses_no_request(app, smtp, caplog):
    smtp["controller"].stop()
    try:
        started = time.monotonic()
        status, _ = _post(app, VALID | {"name": "Down Case"}, "10.5.0.1")
        assert status == 201 and time.monotonic() - started < 2  # the patient does not wait for the mail
        assert _until(lambda: _rows(app, name="Down Case")[0]["mailed"] == "failed")
    finally:
        smtp["start"]()  # a new server on the same port, for the tests after this one
    assert "could not be e-mailed" in caplog.text and "kept in the console's callback list" in caplog.text
    assert "Down Case" not in caplog.text and "anna.bell" not in caplog.text


@pytest.mark.integration
def test_staff_see_the_callback_list_and_mark_a_request_done(app, browser):
    from selenium.webdriver.common.by import By

    assert _post(app, VALID | {"name": "Dora Callback", "email": "dora@example.com", "phone": ""}, "10.6.0.1")[0] == 201
    assert _post(app, VALID | {"name": "Eli Open", "phone": "+1 202-555-0143", "email": ""}, "10.6.0.2")[0] == 201
    status, _, page = Client(app["url"]).get("/admin/callbacks")
    assert status == 401 and "login-form" in page and "Dora" not in page  # staff sign-in required

    sign_in_browser(browser, app["url"], "frontdesk", PASSWORDS["staff"], then="/admin/callbacks")
    try:
        wait(browser, lambda d: d.find_elements(By.ID, "open"))
        row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#open tbody tr") if "Dora Callback" in r.text)
        assert row.find_element(By.CSS_SELECTOR, "a[href^='mailto:']").get_attribute("href") == "mailto:dora@example.com"
        eli = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#open tbody tr") if "Eli Open" in r.text)
        assert eli.find_element(By.CSS_SELECTOR, "a[href^='tel:']").get_attribute("href") == "tel:+1202-555-0143"
        assert "Yes" in row.text or "Sending" in row.text  # the e-mail column, as SMTP is configured
        assert axe_violations(browser) == []
        browser.save_screenshot(str(ARTIFACTS / "console-callbacks.png"))
        request_id = row.get_attribute("data-id")
        row.find_element(By.CSS_SELECTOR, "button").click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#done tr[data-id='{request_id}']"))
        assert f"Request #{request_id} is marked done." in browser.find_element(By.CSS_SELECTOR, ".notice").text
        done = browser.find_element(By.CSS_SELECTOR, f"#done tr[data-id='{request_id}']")
        assert "by frontdesk" in done.text and not browser.find_elements(By.CSS_SELECTOR, f"#open tr[data-id='{request_id}']")
        assert axe_violations(browser) == []
    finally:
        browser.save_screenshot(str(ARTIFACTS / "console-callbacks-done.png"))
    [dora] = _rows(app, name="Dora Callback")
    assert dora["done_by"] == "frontdesk" and dora["done_at"]
    # Without the form's token the change is refused and nothing changes.
    client = Client(app["url"])
    assert client.sign_in("frontdesk", PASSWORDS["staff"])[0] == 303
    [eli] = _rows(app, name="Eli Open")
    status, _, _ = client.post_form(f"/admin/callbacks/{eli['id']}/done", {}, csrf=False)
    assert status == 403 and not _rows(app, name="Eli Open")[0]["done_at"]


@pytest.mark.integration
def test_the_csv_export_holds_no_contact_details(app):
    question = "How much does it cost? Call me on 020 7946 0123 or write to cara.csv@example.com"
    status, reply = request_json(app["url"] + "/api/ask", method="POST", body={"question": question})
    assert status == 200 and reply["status"] in ("closest", "out_of_scope")
    assert _post(app, {"question": question, "name": "Cara Csv", "email": "cara.csv@example.com",
                       "phone": "020 7946 0123", "consent": True}, "10.7.0.1")[0] == 201
    client = Client(app["url"])
    assert client.sign_in("manager", PASSWORDS["admin"])[0] == 303
    status, _, csv_text = client.get("/admin/insights.csv")
    assert status == 200 and "How much does it cost? Call me on [phone] or write to [email]" in csv_text
    assert "cara.csv" not in csv_text and "7946 0123" not in csv_text and "Cara Csv" not in csv_text


@pytest.mark.integration
def test_the_chat_page_links_a_refusal_to_the_form_with_its_question(app, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from assistant.web.contact import THANKS

    question = "Which football team won the league in 1998?"
    browser.get(app["url"] + "/")
    try:
        box = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#chat-input textarea"))
        box.send_keys(question)
        box.send_keys(Keys.ENTER)
        reply = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#chatbot .reply-out_of_scope"))[0]
        link = reply.find_element(By.CSS_SELECTOR, ".contact a.contact-form-link")
        assert link.text.startswith("Leave your question and how to reach you")
        assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel").split()
        href = link.get_attribute("href")
        assert href == app["url"] + "/contact?" + urllib.parse.urlencode({"question": question, "channel": "chat"})
        browser.get(href)  # what the click opens in a new tab
        assert browser.find_element(By.ID, "question").get_attribute("value") == question
        assert axe_violations(browser) == []
        # Sent with a bad address first: the problem is shown by its field and the form is still clean.
        browser.find_element(By.ID, "email").send_keys("frank@")
        browser.find_element(By.ID, "contact-send").click()
        wait(browser, lambda d: d.find_elements(By.ID, "contact-error"))
        assert browser.find_element(By.ID, "email").get_attribute("aria-invalid") == "true"
        assert browser.find_element(By.ID, "question").get_attribute("value") == question
        assert axe_violations(browser) == []
        browser.save_screenshot(str(ARTIFACTS / "contact-page-problems.png"))
        browser.find_element(By.ID, "email").clear()
        browser.find_element(By.ID, "email").send_keys("frank@example.com")
        browser.find_element(By.ID, "name").send_keys("Frank Chat")
        browser.find_element(By.ID, "consent").click()
        browser.find_element(By.ID, "contact-send").click()
        wait(browser, lambda d: d.find_elements(By.ID, "contact-sent"))
        assert browser.find_element(By.ID, "contact-sent").text == THANKS
        blocked = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
        assert blocked == []
    finally:
        browser.save_screenshot(str(ARTIFACTS / "contact-page.png"))
    [row] = _rows(app, name="Frank Chat")
    assert (row["question"], row["email"], row["channel"]) == (question, "frank@example.com", "chat")
