"""Shared by the web tests: serve the whole app on a loopback port, talk HTTP to it, drive
Debian's headless Chromium, and run axe-core (from npm, installed by `make test`) in the page."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest

from assistant.settings import PROJECT_ROOT
from tests.conftest import free_port

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


@contextlib.contextmanager
def serving(settings, embedder, feedback_path, assistant=None):
    """The whole app (API + widget + Gradio) on a loopback port, as `python app.py` serves it.

    Yields {"url", "feedback"}; fails the test when the server does not come up.
    """
    import uvicorn

    from assistant.service import build_assistant
    from assistant.web.feedback import FeedbackStore
    from assistant.web.server import create_web_app, server_config

    feedback = FeedbackStore(feedback_path)
    app = create_web_app(settings, assistant or build_assistant(settings, embedder=embedder), feedback)
    port = free_port()
    # The server exactly as app.py configures it, on a loopback port.
    srv = uvicorn.Server(server_config(app, replace(settings, host="127.0.0.1", port=port)))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not srv.started and thread.is_alive() and time.time() < deadline:
        time.sleep(0.05)
    if not srv.started:
        srv.should_exit = True
        pytest.fail(f"the web app did not start on port {port} within 60 s")
    try:
        yield {"url": f"http://127.0.0.1:{port}", "feedback": feedback}
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def serving_markup_corpus(root):
    """The app over a corpus that itself carries markup and scripts, served like the real one
    (``root``: an empty folder for its corpus, index and feedback)."""
    from assistant.embeddings import get_embedder
    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest
    from assistant.settings import Settings

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


def closest_settings(settings, folder):
    """The settings with a copy of their calibration in which every in-scope question gets the
    closest passages (answer threshold 0.99, closest threshold 0.01), so a test sees real replies of
    that grade from the real pipeline. The model's other fields are read from the shipped file,
    whatever they are."""
    data = json.loads(settings.calibration_file.read_text(encoding="utf-8"))
    data["relevance"] |= {"threshold": 0.99, "closest_threshold": 0.01}
    path = folder / "calibration.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return replace(settings, calibration_file=path)


def request(url, method="GET", body=None, headers=None, raw=None, timeout=30):
    """(status, headers, body bytes); HTTP errors are returned, not raised."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def request_json(url, **kw):
    status, _, body = request(url, **kw)
    return status, json.loads(body)


def chromium(width=1280, height=1000):
    """A headless Debian Chromium under chromedriver (no browser download: no internet here)."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("chromium and chromedriver are missing: run `make test` (it installs Debian's packages)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    ARTIFACTS.mkdir(exist_ok=True)
    return webdriver.Chrome(service=webdriver.ChromeService(shutil.which("chromedriver")), options=options)


def wait(driver, condition, timeout=30):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A form post replaces the page: an element found just before the new page arrived goes
    # stale, and the condition is simply asked again.
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def axe_violations(driver, include=None, impacts=("serious", "critical")) -> list[str]:
    """axe-core's violations of ``impacts`` on the page as it is now (``include``: a CSS selector
    to limit the check to), one readable line each; an empty list means clean."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing ({AXE.relative_to(PROJECT_ROOT)}): run `make test` (npm ci installs it)")
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    context = json.dumps(include) if include else "document"
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"axe.run({context}, {{resultTypes: ['violations']}}).then(r => done(r.violations), e => done(String(e)));")
    if isinstance(result, str):
        pytest.fail(f"axe-core failed to run: {result}")
    return [f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:3]}"
            for v in result if v.get("impact") in impacts]
