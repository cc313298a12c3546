"""The personal-data recogniser behind the question log's redaction (assistant/pii.py): recall and
false redactions on patients' messages against the floors, loaded lazily and once, without torch."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from assistant.settings import PROJECT_ROOT


def test_recall_and_false_redactions_meet_the_floors():
    from evals.pii import load_cases, metrics, run
    from evals.runner import load_thresholds

    cases = load_cases()
    assert sum(1 for c in cases if c.pii) >= 40 and sum(1 for c in cases if not c.pii) >= 20
    redacted, _ = run(cases)
    figures = metrics(cases, redacted)
    limits = load_thresholds("pii")
    assert limits["min"] and limits["max"]
    for name, floor in limits["min"].items():
        assert figures[name] >= floor, (name, figures)
    for name, ceiling in limits["max"].items():
        assert figures[name] <= ceiling, (name, figures)
    # Every kind the issue named is found at least once.
    assert all(figures["recall_by_kind"][kind] > 0 for kind in
               ("name", "email", "phone", "address", "handle", "health"))


def test_the_issues_examples_are_not_stored(tmp_path):
    from assistant.web.feedback import FeedbackStore

    store = FeedbackStore(tmp_path / "f.sqlite3")
    for question in ("I'm Sarah Jones, does it hurt?", "Name: Sarah Jones", "sarah dot jones at example dot com",
                     "sarah[at]example[dot]com", "call oh seven seven double oh nine one two three four five six",
                     "I live on Maple Grove, is there parking?", "my insta is @sarah_glow_99",
                     "I have HIV and hepatitis C, can I have it?"):
        assert store.record_question(question, "out_of_scope")
    stored = " ".join(q for (q,) in sqlite3.connect(tmp_path / "f.sqlite3").execute("SELECT question FROM questions"))
    for secret in ("Sarah", "Jones", "sarah", "example", "seven", "Maple", "sarah_glow_99", "HIV", "hepatitis"):
        assert secret not in stored, (secret, stored)
    assert "[name]" in stored and "[condition]" in stored and "does it hurt?" in stored


def test_the_recogniser_loads_on_first_use_once_and_without_torch():
    code = ("import sys\n"
            "import assistant.pii, assistant.text, assistant.web.feedback\n"
            "heavy = [m for m in ('spacy', 'presidio_analyzer', 'thinc') if m in sys.modules]\n"
            "print('at import:', heavy)\n"
            "first = assistant.pii.analyzer(); assert first is assistant.pii.analyzer()\n"
            "print('loaded:', first is not None)\n"
            "print('torch:', any(sys.modules.get(m) is not None for m in ('torch', 'transformers')))\n"
            "import torch  # still importable by whoever needs it after the load\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["at import: []", "loaded: True", "torch: False"]
