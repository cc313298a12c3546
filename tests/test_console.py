"""The clinic console end to end, over real HTTP and in a real headless Chromium: sign in, upload
a PDF (staff-only unless the manager chooses public: the public refuses, the front desk and the
staff API answer), publish it to patients (the public API and the widget answer from it), take it
back, delete it; refused uploads and audience changes change nothing; axe-core on every console page."""

from __future__ import annotations

import html
import json
import time
from dataclasses import replace

import pytest

from assistant.answer.answering import NOT_ANSWERED
from tests.console_support import PASSWORDS, Client, add_user, console_settings, ingest, multipart, text_pdf
from tests.web_support import ARTIFACTS, axe_violations, chromium, request, request_json, serving, wait

pytestmark = pytest.mark.integration

# The uploaded document's fact: nothing in the shipped corpus says how long to avoid pools.
AFTERCARE = [
    "Aftercare after microneedling",
    "For the first 72 hours after microneedling, stay out of swimming pools, hot tubs and saunas: chlorine and "
    "heat irritate the tiny channels in the skin while they close.",
    "Wash your face with lukewarm water and a gentle cleanser on the evening of the treatment, and pat it dry "
    "with a clean towel.",
    "Skip makeup for the first 24 hours so that the treated skin can breathe and heal.",
]
QUESTION = "How long should I stay out of swimming pools after microneedling?"
STORED = "Aftercare-Sheet-2024-e.pdf"  # what "Aftercare Sheet (2024) é.pdf" is stored as
LIMIT = 200_000


@pytest.fixture(scope="module")
def app(real_settings, real_embedder, tmp_path_factory):
    settings = replace(console_settings(real_settings, tmp_path_factory, "console_docs"), max_upload_bytes=LIMIT)
    ingest(settings, real_embedder)
    add_user(settings, "manager", "admin", PASSWORDS["admin"])
    add_user(settings, "desk", "staff", PASSWORDS["staff"])
    with serving(settings, real_embedder, settings.data_dir / "feedback.sqlite3") as info:
        yield info | {"settings": settings}


@pytest.fixture(scope="module")
def browser():
    driver = chromium(1280, 1000)
    yield driver
    driver.quit()


def _snapshot(settings) -> dict:
    """Every file in the corpus folder with its bytes: what a refused change must leave alone."""
    return {p.name: p.read_bytes() for p in sorted(settings.corpus_dir.iterdir())}


def _public_ask(app, question=QUESTION):
    status, data = request_json(app["url"] + "/api/ask", method="POST", body={"question": question})
    assert status == 200, data
    return data


def _staff(app) -> Client:
    client = Client(app["url"])
    assert client.sign_in("desk", PASSWORDS["staff"])[0] == 303
    return client


def _staff_ask(client, question=QUESTION):
    token = client.csrf("/admin/login")
    status, _, text = client.request("/api/staff/ask", "POST", json.dumps({"question": question}).encode(),
                                     {"Content-Type": "application/json", "X-CSRF-Token": token})
    assert status == 200, text
    return json.loads(text)


def _ask_widget(driver, url, question=QUESTION):
    """Ask through the website widget on the example host page; the reply element."""
    from tests.test_widget import _open, _widget_ask

    driver.get(url + "/examples/widget.html")
    _open(driver)
    return _widget_ask(driver, question)


def _ask_desk(driver, url, question=QUESTION) -> str:
    """Ask on the front-desk page (the browser is signed in); the answer box's text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(url + "/desk/")
    box = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#desk-query textarea"))
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    label = "Answer for “" + question + "”"
    wait(driver, lambda d: label in d.find_element(By.ID, "desk-answer").text
         and d.find_element(By.CSS_SELECTOR, "#desk-answer textarea").get_attribute("value"))
    return driver.find_element(By.CSS_SELECTOR, "#desk-answer textarea").get_attribute("value")


def _check_page(driver, include=None):
    """axe-core finds no serious violation, and the page ran under its Content-Security-Policy
    with nothing blocked (the browser's log since the last check)."""
    assert axe_violations(driver, include=include) == []
    blocked = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert blocked == []


def _page_shot(driver, name):
    """A screenshot of the whole page (the window grown to its height), for the README's docs/ pictures."""
    width, height = driver.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollHeight]")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": min(max(height, 600), 2400), "deviceScaleFactor": 1, "mobile": False})
    try:
        driver.save_screenshot(str(ARTIFACTS / name))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _row(driver, name):
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f"#documents tr[data-name='{name}']")
    return rows[0] if rows else None


def _open_as_manager(driver, url, ready_id):
    """Open a console page, signing in as the admin first if the browser is not signed in."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    if not driver.find_elements(By.ID, ready_id):
        driver.find_element(By.ID, "name").send_keys("manager")
        driver.find_element(By.ID, "password").send_keys(PASSWORDS["admin"])
        driver.find_element(By.ID, "sign-in").click()
        wait(driver, lambda d: d.find_elements(By.ID, ready_id))


def _wait_indexed(driver, name, audience):
    """The page follows the job and reloads when it is done; then the row shows the new state."""
    def ready(d):
        row = _row(d, name)
        return row is not None and row.get_attribute("data-status") == "indexed" \
            and row.get_attribute("data-audience") == audience
    wait(driver, ready, timeout=120)
    return _row(driver, name)


def _assert_public_cannot_see_it(app, browser):
    """The public API, its search and the widget neither answer from the document nor cite it."""
    refused = _public_ask(app)
    assert refused["status"] in NOT_ANSWERED and all(c["source"] != STORED for c in refused["citations"]), refused
    status, found = request_json(app["url"] + "/api/search?q=" + "swimming+pools+hot+tubs+saunas")
    assert status == 200 and all(r["source"] != STORED for r in found["results"])
    public = _ask_widget(browser, app["url"])
    assert public.get_attribute("data-status") in NOT_ANSWERED and "72 hours" not in public.get_attribute("textContent")


def _entry(app, name) -> dict:
    import tomllib

    return tomllib.loads((app["settings"].corpus_dir / "sources.toml").read_text(encoding="utf-8")).get(name, {})


def _audience_label(row) -> str:
    from selenium.webdriver.common.by import By

    return row.find_element(By.CSS_SELECTOR, "td .audience").text


def test_sign_in_upload_publish_restrict_and_delete_in_the_browser(app, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url = app["url"]
    # The shipped corpus cannot answer it: refused, or met with the closest passages only.
    assert _public_ask(app)["status"] in NOT_ANSWERED

    browser.get(url + "/admin")
    wait(browser, lambda d: d.find_elements(By.ID, "login-form"))
    _check_page(browser)
    _page_shot(browser, "console-login.png")
    browser.find_element(By.ID, "name").send_keys("manager")
    browser.find_element(By.ID, "password").send_keys(PASSWORDS["admin"])
    browser.find_element(By.ID, "sign-in").click()
    wait(browser, lambda d: d.find_elements(By.ID, "upload-form"))
    assert browser.current_url.endswith("/admin/documents")
    _check_page(browser)
    # The shipped documents have no audience in sources.toml: public, as they always were.
    shipped = [r.get_attribute("data-name") for r in browser.find_elements(By.CSS_SELECTOR, "#documents tbody tr")]
    assert shipped and all(_audience_label(_row(browser, n)) == "Public" for n in shipped)
    # The upload form offers both audiences and starts on staff-only, never on public.
    assert browser.find_element(By.ID, "audience-staff").is_selected()
    assert not browser.find_element(By.ID, "audience-public").is_selected()

    # Drag and drop hands the dropped file to the form's file input.
    dropped = browser.execute_script("""
        const dt = new DataTransfer();
        dt.items.add(new File(["# Dropped\\n\\nSome text."], "dropped.md", {type: "text/markdown"}));
        const zone = document.getElementById("drop-zone");
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
        const over = zone.classList.contains("over");
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        return [over, document.getElementById("file").files[0].name];""")
    assert dropped == [True, "dropped.md"]

    # Upload through the file picker, under a name the server must clean up, choosing no audience.
    pdf = tmp_path / "Aftercare Sheet (2024) é.pdf"
    pdf.write_bytes(text_pdf(AFTERCARE))
    browser.find_element(By.ID, "file").send_keys(str(pdf))
    browser.find_element(By.ID, "title").send_keys("Aftercare sheet")
    browser.find_element(By.ID, "origin").send_keys("Clinic handout, 2024")
    browser.find_element(By.ID, "upload").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice"))
    notice = browser.find_element(By.CSS_SELECTOR, ".notice").text
    assert STORED in notice and "staff only" in notice and "publish" in notice
    row = _wait_indexed(browser, STORED, "staff")
    assert "Aftercare sheet" in row.text and "Clinic handout, 2024" in row.text and "PDF" in row.text
    assert "indexed:" in row.text and "passages" in row.text
    assert _audience_label(row) == "Staff only"  # in words, not only a colour
    assert all(_audience_label(_row(browser, n)) == "Public" for n in shipped)
    assert "1 staff only" in browser.find_element(By.ID, "documents-caption").text
    assert (app["settings"].corpus_dir / STORED).read_bytes() == pdf.read_bytes()
    sources = (app["settings"].corpus_dir / "sources.toml").read_text()
    assert _entry(app, STORED) == {"title": "Aftercare sheet", "origin": "Clinic handout, 2024", "audience": "staff"}
    assert "# Metadata the loader reads" in sources  # the file's own comments are kept
    _check_page(browser)
    _page_shot(browser, "console-documents.png")

    # Staff-only: the public API, search and widget never use it; the front desk and staff API do.
    _assert_public_cannot_see_it(app, browser)
    assert "72 hours" in _ask_desk(browser, url)  # the front desk is open to this admin too
    staff = _staff(app)
    staff_answer = _staff_ask(staff)
    assert staff_answer["status"] == "answered" and any(c["source"] == STORED for c in staff_answer["citations"])
    status, _, text = staff.get("/api/staff/search?q=swimming+pools+hot+tubs+saunas")
    assert status == 200 and json.loads(text)["results"][0]["source"] == STORED

    # Its page: what cleaning left out, who may see it; publish it to patients.
    browser.get(url + "/admin/documents")
    _row(browser, STORED).find_element(By.TAG_NAME, "a").click()
    wait(browser, lambda d: d.find_elements(By.ID, "audience-form"))
    assert "What cleaning leaves out" in browser.page_source
    assert browser.find_element(By.ID, "audience-now").text == "Staff only"
    assert not browser.find_elements(By.ID, "make-staff")
    _check_page(browser)
    _page_shot(browser, "console-document.png")
    browser.find_element(By.ID, "publish").click()
    notice = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice"))[0].text
    assert notice.startswith(f"Published {STORED} to patients")
    row = _wait_indexed(browser, STORED, "public")
    assert _audience_label(row) == "Public"
    # Published: the entry keeps its title and origin and loses its audience (public is the default).
    assert _entry(app, STORED) == {"title": "Aftercare sheet", "origin": "Clinic handout, 2024"}

    # The public API and the widget answer from it, citing it.
    answer = _public_ask(app)
    assert answer["status"] == "answered", answer
    assert any(c["source"] == STORED for c in answer["citations"]) and "72 hours" in answer["answer"]
    reply = _ask_widget(browser, url)
    assert reply.get_attribute("data-status") == "answered"
    assert "72 hours" in reply.get_attribute("textContent") and "Aftercare sheet" in reply.get_attribute("textContent")

    # Back to staff-only: the public refuses again, the staff API still answers.
    browser.get(url + "/admin/documents")
    _row(browser, STORED).find_element(By.TAG_NAME, "a").click()
    wait(browser, lambda d: d.find_elements(By.ID, "make-staff"))
    assert browser.find_element(By.ID, "audience-now").text == "Public"
    _check_page(browser)
    browser.find_element(By.ID, "make-staff").click()
    _wait_indexed(browser, STORED, "staff")
    assert _entry(app, STORED)["audience"] == "staff"
    _assert_public_cannot_see_it(app, browser)
    assert _staff_ask(staff)["status"] == "answered"

    # Delete it: gone from the list, the folder, sources.toml and the index.
    browser.get(url + "/admin/documents")
    _row(browser, STORED).find_element(By.TAG_NAME, "a").click()
    wait(browser, lambda d: d.find_elements(By.ID, "delete-form"))
    browser.find_element(By.ID, "delete").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice"))
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#jobs [data-state='running'], "
                                                              "#jobs [data-state='queued']"), timeout=120)
    assert _row(browser, STORED) is None
    assert not (app["settings"].corpus_dir / STORED).exists()
    assert STORED not in (app["settings"].corpus_dir / "sources.toml").read_text()
    status, _, text = staff.get("/api/staff/search?q=swimming+pools+hot+tubs+saunas")
    assert all(r["source"] != STORED for r in json.loads(text)["results"])
    assert _staff_ask(staff)["status"] in NOT_ANSWERED


def test_refused_uploads_show_their_reason_and_change_nothing(app, browser, tmp_path):
    from selenium.webdriver.common.by import By

    admin = Client(app["url"])
    assert admin.sign_in("manager", PASSWORDS["admin"])[0] == 303
    before = _snapshot(app["settings"])
    jobs_before = json.loads(admin.get("/admin/jobs")[2])["jobs"]
    token = admin.csrf("/admin/documents")

    def upload(filename, data, **fields):
        body, kind = multipart({"csrf_token": token, "audience": "staff"} | fields, {"file": (filename, data)})
        status, headers, text = admin.request("/admin/documents", "POST", body, {"Content-Type": kind})
        return status, headers, html.unescape(text)

    fine = b"Aftercare text that would be fine to add."
    status, _, text = upload("scan.pdf", bytes(range(256)) * 64)  # binary data renamed .pdf
    assert status == 400 and "scan.pdf was not added: not a readable PDF" in text and "Nothing was changed" in text
    status, _, text = upload("big.txt", b"Microneedling aftercare. " * (LIMIT // 20))
    assert status == 400 and "too large" in text and "the limit is 0.2 MB" in text
    status, _, text = upload("notes.docx", b"PK\x03\x04 not text")
    assert status == 400 and "only .txt, .md, .html, .pdf" in text
    status, _, text = upload("fine.txt", fine, audience="everyone")
    assert status == 400 and "audience 'everyone' is not known: choose “staff” (the front desk only) or " \
        "“public” (patients too). Nothing was changed." in text
    # A post without an audience (a script, say) is refused with the way out, never taken as public.
    body, kind = multipart({"csrf_token": token}, {"file": ("fine.txt", fine)})
    status, _, text = admin.request("/admin/documents", "POST", body, {"Content-Type": kind})
    assert status == 400 and "no audience was chosen: choose who may see the document" in html.unescape(text)
    # Without the CSRF token nothing is read at all.
    body, kind = multipart({"audience": "public"}, {"file": ("fine.txt", fine)})
    assert admin.request("/admin/documents", "POST", body, {"Content-Type": kind})[0] == 403

    # Publishing or taking back a shipped (public) document: a missing or unknown audience, or no
    # CSRF token, changes nothing.
    shipped = next(n for n in before if n.endswith(".txt"))
    path = f"/admin/documents/{shipped}/audience"
    for fields, message in (({}, "no audience was chosen"), ({"audience": "patients"}, "audience 'patients' is not known")):
        status, headers, _ = admin.post_form(path, fields)
        assert status == 303 and headers["Location"] == "/admin/documents"
        assert message in html.unescape(admin.get("/admin/documents")[2])
    assert admin.post_form(path, {"audience": "staff"}, csrf=False)[0] == 403
    assert admin.post_form("/admin/documents/no-such-file.txt/audience", {"audience": "public"})[0] == 303
    assert "no document named 'no-such-file.txt'" in html.unescape(admin.get("/admin/documents")[2])
    assert _snapshot(app["settings"]) == before
    assert json.loads(admin.get("/admin/jobs")[2])["jobs"] == jobs_before  # no ingest was queued

    # The browser shows the reason on the page.
    browser.get(app["url"] + "/admin/documents")
    if not browser.find_elements(By.ID, "upload-form"):
        browser.find_element(By.ID, "name").send_keys("manager")
        browser.find_element(By.ID, "password").send_keys(PASSWORDS["admin"])
        browser.find_element(By.ID, "sign-in").click()
        wait(browser, lambda d: d.find_elements(By.ID, "upload-form"))
    fake = tmp_path / "photo.pdf"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    browser.find_element(By.ID, "file").send_keys(str(fake))
    browser.find_element(By.ID, "upload").click()
    error = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".error"))[0]
    assert "photo.pdf was not added: not a readable PDF" in error.text
    assert _snapshot(app["settings"]) == before


def test_a_client_path_never_reaches_the_disk(app):
    admin = Client(app["url"])
    assert admin.sign_in("manager", PASSWORDS["admin"])[0] == 303
    token = admin.csrf("/admin/documents")
    body, kind = multipart({"csrf_token": token, "audience": "staff"}, {"file": ("../../outside/Evil Name.txt",
                                                            b"Microneedling aftercare: keep the skin clean and calm.\n")})
    status, headers, _ = admin.request("/admin/documents", "POST", body, {"Content-Type": kind})
    assert status == 303
    corpus = app["settings"].corpus_dir
    assert (corpus / "Evil-Name.txt").exists() and not (corpus.parent / "outside").exists()
    deadline = time.time() + 120
    while not json.loads(admin.get("/admin/jobs")[2])["idle"] and time.time() < deadline:
        time.sleep(0.5)
    assert json.loads(admin.get("/admin/jobs")[2])["jobs"][0]["state"] == "done"
    status, _, _ = admin.post_form("/admin/documents/Evil-Name.txt/delete", {}, csrf=True)
    assert status == 303


def test_insights_group_refusals_by_channel_and_export_them(app, browser):
    from selenium.webdriver.common.by import By

    url = app["url"]
    # Each is refused or met with the closest passages only (which of the two, the fitted
    # calibration decides); either is a gap, each of its own kind.
    kind_of = {"out_of_scope": "refused", "closest": "closest passages only"}
    kinds = {}
    for question in ("How much does a microneedling session cost?", "microneedling session price",
                     "Can I pay in installments? mail me at jane.doe@example.com"):
        kinds[question] = kind_of[_public_ask(app, question)["status"]]
    staff = _staff(app)
    assert _staff_ask(staff, "Do we waive the fee for a missed appointment?")["status"] in kind_of
    answered = _public_ask(app, "How long do microneedling results last?")
    assert request_json(url + "/api/feedback", method="POST",
                        body={"answer_id": answered["answer_id"], "vote": "down"})[0] == 201
    # A question met only with the closest passages (stored as the API stores it) is a gap of its own.
    app["feedback"].record_question("Does microneedling help with rosacea flare-ups?", "closest", channel="widget")

    admin = Client(url)
    assert admin.sign_in("manager", PASSWORDS["admin"])[0] == 303
    assert staff.get("/admin/insights")[0] == 403 and staff.get("/admin/insights.csv")[0] == 403
    status, headers, text = admin.get("/admin/insights.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    by_question = {r["question"]: r for r in rows}
    assert by_question["Do we waive the fee for a missed appointment?"]["channel"] == "desk"
    assert by_question["How much does a microneedling session cost?"]["channel"] == "api"
    assert by_question["How much does a microneedling session cost?"]["kind"] == \
        kinds["How much does a microneedling session cost?"]
    assert by_question["How long do microneedling results last?"]["kind"] == "voted down"
    assert by_question["Does microneedling help with rosacea flare-ups?"]["kind"] == "closest passages only"
    # The two ways of asking the price are one group; the fee waiver is another.
    assert by_question["microneedling session price"]["group"] == \
        by_question["How much does a microneedling session cost?"]["group"]
    assert by_question["Do we waive the fee for a missed appointment?"]["group"] != \
        by_question["How much does a microneedling session cost?"]["group"]
    assert "jane.doe@example.com" not in text and "[email]" in text

    _open_as_manager(browser, url + "/admin/insights", "groups")
    table = browser.find_element(By.ID, "groups").text
    assert "waive the fee" in table and "desk" in table and "api" in table
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#groups th")]
    assert headers[2:5] == ["Refused", "Closest passages only", "Voted down"]
    rosacea = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#groups tbody tr") if "rosacea" in r.text)
    assert [td.text for td in rosacea.find_elements(By.TAG_NAME, "td")][1:5] == ["1", "0", "1", "0"]
    # The voted-down answer shows the passages it quoted, each linked to its document at the passage.
    voted = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#groups tbody tr")
                 if "results last" in r.text.lower())
    assert [" ".join(q.text.split()) for q in voted.find_elements(By.CSS_SELECTOR, ".voted-down q")] == [
        " ".join(c["quote"].split()) for c in answered["citations"]]
    links = voted.find_elements(By.CSS_SELECTOR, ".voted-down a")
    assert [a.text for a in links] == [c["title"] for c in answered["citations"]]
    assert all(f"/documents/{c['source']}?quote=" in a.get_attribute("href")
               for a, c in zip(links, answered["citations"]))
    weeks = browser.find_element(By.ID, "weeks")
    assert weeks.text.count("W") >= 1 and "Closest passages only" in weeks.text
    assert sum(int(row.find_elements(By.TAG_NAME, "td")[2].text)
               for row in weeks.find_elements(By.CSS_SELECTOR, "tbody tr")) >= 1
    _check_page(browser)
    _page_shot(browser, "console-insights.png")
    # "Add a document" opens the upload form with the question as its title.
    link = browser.find_elements(By.LINK_TEXT, "Add a document")[0]
    link.click()
    wait(browser, lambda d: d.find_elements(By.ID, "upload-form"))
    assert browser.find_element(By.ID, "title").get_attribute("value")


def test_widget_settings_apply_without_a_restart(app, browser):
    from selenium.webdriver.common.by import By

    url, site = app["url"], "https://www.radiance-clinic.example"
    status, headers, _ = request(url + "/api/widget-config", headers={"Origin": site})
    assert status == 200 and "access-control-allow-origin" not in {k.lower() for k in headers}

    _open_as_manager(browser, url + "/admin/widget", "widget-form")
    assert f'src="{url}/widget.js"' in browser.find_element(By.ID, "snippet").text.replace("&quot;", '"')
    # The preview is the real widget, and follows the form as it is typed (once the page's script
    # listens: keys typed before that change nothing).
    wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
    title = browser.find_element(By.ID, "title")
    title.clear()
    title.send_keys("Ask Radiance")
    wait(browser, lambda d: "Ask+Radiance" in d.find_element(By.ID, "preview").get_attribute("src"))
    browser.switch_to.frame(browser.find_element(By.ID, "preview"))
    wait(browser, lambda d: d.execute_script(
        "var s = document.querySelector('script[src=\"/widget.js\"]');"
        "return s && s.dataset.title === 'Ask Radiance' && document.body.children.length > 2"))
    browser.switch_to.default_content()

    origins = browser.find_element(By.ID, "allowed_origins")
    origins.clear()
    origins.send_keys(site + "/\nnot a site")
    browser.find_element(By.ID, "save-widget").click()
    error = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".error"))[0]
    assert "Not saved" in error.text and "not a site" in error.text
    assert not (app["settings"].data_dir / "widget.toml").exists()

    origins = browser.find_element(By.ID, "allowed_origins")
    origins.clear()
    origins.send_keys(site)
    browser.execute_script("document.getElementById('accent').value = '#0b6e4f';"
                           "document.getElementById('position-left').checked = true;")
    starters = browser.find_element(By.ID, "starters")
    starters.clear()
    starters.send_keys("Does it hurt?\nHow many sessions?")
    phone = browser.find_element(By.ID, "phone")
    phone.clear()
    phone.send_keys("+44 20 7946 0000")
    # A contact link that is not a plain web address is refused with the form's error, and the
    # preview never carries it as a link.
    contact = browser.find_element(By.ID, "contact_url")
    contact.clear()
    contact.send_keys("javascript:alert(1)")
    browser.find_element(By.ID, "save-widget").click()
    # The error is read from the page the post returns (the old page's elements go stale).
    error = wait(browser, lambda d: next((e.text for e in d.find_elements(By.CSS_SELECTOR, ".error")
                                          if "Not saved" in e.text), None))
    assert "Booking or contact link 'javascript:alert(1)' must be a web address" in error
    assert not (app["settings"].data_dir / "widget.toml").exists()
    contact = browser.find_element(By.ID, "contact_url")
    assert contact.get_attribute("value") == "javascript:alert(1)"  # what was typed, to correct
    contact.clear()
    contact.send_keys("https://www.radiance-clinic.example/book")
    browser.find_element(By.ID, "save-widget").click()
    # This save's own notice (a flash left by an earlier page would show as .notice too).
    wait(browser, lambda d: any(n.text.startswith("Saved: the widget")
                                for n in d.find_elements(By.CSS_SELECTOR, ".notice")))
    _check_page(browser, include="main")
    _page_shot(browser, "console-widget.png")

    status, headers, body = request(url + "/api/widget-config", headers={"Origin": site})
    assert headers.get("access-control-allow-origin") == site  # the allowlist changed, no restart
    config = json.loads(body)
    assert config["title"] == "Ask Radiance" and config["accent"] == "#0b6e4f" and config["position"] == "left"
    assert config["starters"] == ["Does it hurt?", "How many sessions?"] and config["phone"] == "+44 20 7946 0000"
    assert config["contact_url"] == "https://www.radiance-clinic.example/book"
    # The API's replies that are not an answer offer the saved phone and link, with no restart.
    refused = _public_ask(app, "Which football team won the league in 1998?")
    assert refused["status"] in ("closest", "out_of_scope")
    assert refused["contact"] == {"phone": "+44 20 7946 0000", "url": "https://www.radiance-clinic.example/book"}
    status, headers, _ = request(url + "/api/widget-config", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in {k.lower() for k in headers}


def test_environment_variables_win_over_saved_widget_settings(tmp_path):
    from assistant.errors import ConfigError
    from assistant.settings import Settings
    from assistant.web.console.widget_settings import WidgetSettings

    env = Settings.from_env({"WIDGET_TITLE": "From the environment", "DATA_DIR": str(tmp_path)})
    store = WidgetSettings(env)
    assert store.locked() == {"title": "WIDGET_TITLE"}
    store.save({"title": "Saved title", "greeting": "Saved greeting", "accent": "#123456"})
    config = store.config()
    assert config["title"] == "From the environment"
    assert config["greeting"] == "Saved greeting" and config["accent"] == "#123456"
    # The same store without the variable takes the saved greeting; the saved title was never stored.
    plain = WidgetSettings(Settings.from_env({"DATA_DIR": str(tmp_path)}))
    assert plain.config()["title"] == Settings().widget_title and plain.config()["greeting"] == "Saved greeting"
    with pytest.raises(ConfigError, match="Accent colour 'blue' must be a hex colour"):
        store.save({"accent": "blue"})
    assert store.config()["accent"] == "#123456"


def test_changes_queue_behind_a_running_ingest_and_the_index_keeps_serving(app):
    from assistant.index import ChromaIndex, open_client

    admin = Client(app["url"])
    assert admin.sign_in("manager", PASSWORDS["admin"])[0] == 303
    token = admin.csrf("/admin/documents")
    names = ["queue-one.txt", "queue-two.txt"]
    texts = [b"Queued notes one\n\nMicroneedling pens are cleaned with a hospital-grade disinfectant after each use.\n",
             b"Queued notes two\n\nThe treatment room is kept at a comfortable temperature for every session.\n"]

    def jobs():
        return json.loads(admin.get("/admin/jobs")[2])["jobs"]

    # Another ingest (as `python ingest.py` would) holds the index's lock while two changes arrive.
    holder = ChromaIndex(open_client(app["settings"]), app["settings"].collection)
    holder.acquire_ingest_lock()
    try:
        for name, text in zip(names, texts):
            body, kind = multipart({"csrf_token": token, "audience": "public"}, {"file": (name, text)})
            assert admin.request("/admin/documents", "POST", body, {"Content-Type": kind})[0] == 303
        deadline = time.time() + 60
        while not (jobs()[1]["stage"] == "waiting") and time.time() < deadline:
            time.sleep(0.2)
        first, second = jobs()[1], jobs()[0]  # newest first
        assert (first["state"], first["stage"], second["state"]) == ("running", "waiting", "queued")
        assert "another ingest is running" in first["message"]
        assert _public_ask(app, "How long do microneedling results last?")["status"] == "answered"
    finally:
        holder.release_ingest_lock()
    deadline = time.time() + 120
    while not json.loads(admin.get("/admin/jobs")[2])["idle"] and time.time() < deadline:
        time.sleep(0.5)
    assert [j["state"] for j in jobs()[:2]] == ["done", "done"]
    _, _, page = admin.get("/admin/documents")
    for name in names:
        assert f'data-name="{name}" data-status="indexed"' in page
        assert admin.post_form(f"/admin/documents/{name}/delete", {})[0] == 303
