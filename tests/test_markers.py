"""A part its own document marks as not to be used ("OLD PRICES - DO NOT QUOTE", "superseded",
"draft", "staff only") is kept from patients (issue 20): the rule's properties on generated
documents, the whole path on a real index (real embedding model, real Chroma folder), and the
learned classifier's figures on labels it was not fitted on, against evals/data/thresholds.toml."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from assistant.ingest.chunking import chunk_document
from assistant.ingest.cleaning import clean_document
from assistant.ingest.loading import PUBLIC, STAFF, load_document
from assistant.ingest.markers import MODEL_FILE, MarkerModel, block_labels, withhold_marked
from assistant.settings import PROJECT_ROOT, Settings

LABELS = PROJECT_ROOT / "evals" / "data" / "document_markers.jsonl"
THRESHOLDS = PROJECT_ROOT / "evals" / "data" / "thresholds.toml"
SENTENCES = [
    "Most people feel mild pressure during the treatment.",
    "A numbing cream is applied thirty minutes before we start.",
    "Redness usually settles within two days.",
    "A course of three sessions gives the best results.",
    "Please arrive ten minutes early to fill in your forms.",
    "Sessions are spaced four to six weeks apart.",
]


@pytest.fixture(scope="module")
def embedder():
    from assistant.embeddings import get_serving_embedder

    return get_serving_embedder(Settings.from_env({}))


@pytest.fixture(scope="module")
def model():
    return MarkerModel.load(MODEL_FILE)


@lru_cache(maxsize=1)
def _test_labels() -> tuple[tuple[str, bool], ...]:
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return tuple((r["label"].rstrip(":").strip(), bool(r["withheld"])) for r in rows if r["split"] == "test")


def _write(folder: Path, sections: list[tuple[str, list[str]]], audience: str = PUBLIC) -> Path:
    """A markdown document of ``sections`` (heading, sentences)."""
    text = "# Clinic guide\n\n" + "".join(f"## {heading}\n\n" + " ".join(body) + "\n\n" for heading, body in sections)
    path = folder / "guide.md"
    path.write_text(text, encoding="utf-8")
    return path


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.sampled_from(range(len(_test_labels()))), st.lists(st.sampled_from(SENTENCES),
                                                                                       min_size=1, max_size=3)),
                      min_size=1, max_size=5, unique_by=lambda p: p[0]),
       staff_document=st.booleans())
def test_withholding_is_by_label_keeps_every_word_and_never_opens_a_staff_document(
        picks, staff_document, embedder, model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("doc")
    sections = [(_test_labels()[i][0], body) for i, body in picks]
    path = _write(folder, sections)
    doc = load_document(path, "guide.md", {"audience": STAFF if staff_document else PUBLIC})
    clean = clean_document(doc)
    marked = withhold_marked([clean], embedder, model)[0]
    labels = sorted({label for block in clean.blocks for label in block_labels(block)})
    markers = {l for l, s in zip(labels, model.scores(labels, embedder)) if s >= model.threshold}
    # A block is withheld exactly when one of its labels is a marker, and names that label.
    for before, after in zip(clean.blocks, marked.blocks, strict=True):
        assert bool(after.withheld) == any(l in markers for l in block_labels(before))
        assert not after.withheld or after.withheld in block_labels(before)
        assert replace(after, withheld="") == before  # nothing dropped, nothing reworded
    chunks = chunk_document(marked, 1200)
    plain = chunk_document(clean, 1200)
    # Every sentence is still indexed, quoted with its label; only who may see it changes.
    assert [u.quote for c in chunks for u in c.units] == [u.quote for c in plain for u in c.units]
    for chunk in chunks:
        assert chunk.audience == (STAFF if chunk.withheld or staff_document else PUBLIC)


def test_a_part_marked_not_to_be_used_reaches_staff_but_never_patients(settings, embedder, model):
    """The whole path: ingest with the real model, the patients' and the desk's answers, and the
    document's page for each."""
    from assistant.answer.retrieval import IndexReader
    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest
    from assistant.service import build_assistant
    from assistant.web.reading import document_view

    caught = [label for label, withheld in _test_labels()
              if withheld and model.scores([label], embedder)[0] >= model.threshold]
    assert caught, "the marker model catches none of the test labels"
    marker = caught[0]
    (settings.corpus_dir / "prices.md").write_text(
        "# Prices\n\n## Single session\n\nOne microneedling session costs 340 dollars, numbing included.\n\n"
        f"## {marker}\n\nEach visit was charged at 380 dollars, and a package of three at 1020.\n", encoding="utf-8")
    index = ChromaIndex(open_client(settings), settings.collection)
    report = run_ingest(settings, embedder, index, progress=False)
    assert [(s, label) for s, label, _ in report.withheld] == [("prices.md", marker)]
    assert "shown to staff only" in report.summary()

    assistant = build_assistant(settings, embedder=embedder)
    question = "what is each visit charged at, and a package of three?"
    public = assistant.lookup(question, k=10)
    desk = assistant.lookup(question, k=10, audience=STAFF)
    assert not any("380" in d.page_content for d in public)
    assert any("380" in d.page_content for d in desk)
    snapshot = IndexReader(index, settings, embedder, refresh_seconds=0).current()
    patient_page = document_view(snapshot, "prices.md", settings.corpus_dir)
    staff_page = document_view(snapshot, "prices.md", settings.corpus_dir, for_staff=True)
    shown = lambda view: " ".join(s.text for b in view.blocks for s in b.spans)  # noqa: E731
    assert not patient_page.staff and "340" in shown(patient_page) and "380" not in shown(patient_page)
    assert marker not in shown(patient_page) and "380" in shown(staff_page)
    # The desk's answer may quote it; what the desk copies for a patient never does.
    from assistant.web.pages.desk import patient_answer

    staff_answer = assistant.ask(question, audience=STAFF)
    assert any("380" in c.quote for c in staff_answer.citations), staff_answer
    copied = patient_answer(assistant, question, staff_answer)
    assert "380" not in copied.answer and not any("380" in c.quote for c in copied.citations)
    assert patient_answer(assistant, question, copied) is copied  # nothing withheld in it: kept as it is
    # The console's page of the document says which part patients are not shown, and why.
    from jinja2 import Environment, FileSystemLoader

    from assistant.web.console.documents import DocumentLibrary

    info = DocumentLibrary(settings).get("prices.md", snapshot)
    assert info.audience == PUBLIC and info.withheld == (marker,)
    templates = Environment(loader=FileSystemLoader(PROJECT_ROOT / "assistant/web/console/templates"), autoescape=True)
    from assistant.web.console.documents import AUDIENCE_LABELS

    page = templates.get_template("document.html").render(doc=info, csrf="x", dropped=[], labels=AUDIENCE_LABELS)
    assert "Shown to staff only" in page and "not to be used" in page

    # Over real HTTP, as a patient reaches it: the API's answer and passages, and the document's page.
    from tests.web_support import request, request_json, serving

    with serving(settings, embedder, settings.data_dir / "feedback.sqlite3", assistant=assistant) as info:
        status, reply = request_json(info["url"] + "/api/ask", method="POST", body={"question": question})
        # The reply's words and quotes (not its ids: a hex id may hold "380").
        shown = [reply["answer"], *(c["quote"] for c in reply["citations"])]
        assert status == 200 and not any("380" in text for text in shown), shown
        status, _, body = request(info["url"] + "/documents/prices.md")
        assert status == 200 and b"340" in body and b"380" not in body and marker.encode() not in body


def test_the_classifier_meets_its_floors_on_labels_it_was_not_fitted_on(embedder, model):
    from evals.markers import measure

    floors = tomllib.loads(THRESHOLDS.read_text(encoding="utf-8"))["markers"]
    result = measure(model, embedder)
    test = result["test"]
    print(json.dumps(result, indent=1))
    assert test["recall"] >= floors["min"]["test.recall"], test["missed"]
    assert test["ordinary_withheld"] <= floors["max"]["test.ordinary_withheld"], test["wrongly_withheld"]
    for name, got in result["corpora"].items():
        assert len(got["withheld"]) <= floors["max"][f"{name}.labels_withheld"], (name, got["withheld"])
