import sqlite3
import subprocess
import sys

import pytest

from assistant.settings import PROJECT_ROOT
from assistant.web.feedback import FeedbackStore, Vote, redact


@pytest.mark.parametrize("text, expected", [
    ("mail me at jane.doe+x@clinic.co.uk please", "mail me at [email] please"),
    ("call 0412 345 678 or +44 (20) 7946-0958", "call [phone] or [phone]"),
    ("I had 3 sessions in 2026", "I had 3 sessions in 2026"),
    ("Hi, my name is Jane Doe and my skin is red", "Hi, my name is [name] and my skin is red"),
    ("my name's priya, is it safe?", "my name's [name], is it safe?"),
    ("born 12/03/1985, can I have it?", "born [date], can I have it?"),
    ("DOB 3rd March 1985", "DOB [date]"),
    ("born March 3, 1985", "born [date]"),
    ("in March 2026 I had it, 4-6 weeks apart", "in March 2026 I had it, 4-6 weeks apart"),
    ("I live at 221B Baker Street, London NW1 6XE", "I live at [address], [address] [postcode]"),
    ("passport AB1234567 please", "passport [number] please"),
    ("vitamin b12 and 1.5 mm needles", "vitamin b12 and 1.5 mm needles"),
])
def test_contact_details_are_redacted(text, expected):
    assert redact(text) == expected


def test_votes_and_questions_are_stored_redacted(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    store.record_vote(Vote("is it permanent? me@x.com", "answered", ("c1", "c2"), "down"))
    store.record_question("price for 0412 345 678?", "out_of_scope")
    assert store.votes()[0] | {"created_at": None} == {
        "question": "is it permanent? [email]", "status": "answered", "chunk_ids": ["c1", "c2"],
        "vote": "down", "channel": "chat", "created_at": None}
    raw = sqlite3.connect(tmp_path / "f.sqlite3").execute("SELECT question FROM questions").fetchall()
    assert raw == [("price for [phone]?",)]
    with pytest.raises(ValueError):
        store.record_vote(Vote("q", "answered", (), "sideways"))


def test_report_ranks_refusals_and_down_votes(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    for q in ["How much?", "how much?", "Do you open Sundays?"]:
        store.record_question(q, "out_of_scope")
    store.record_question("Is it permanent?", "answered")
    store.record_question("What about melasma?", "closest")
    store.record_vote(Vote("Is it permanent?", "answered", ("c1",), "down"))
    store.record_vote(Vote("Is it permanent?", "answered", ("c1",), "down"))
    store.record_vote(Vote("Does it help scars?", "answered", ("c2",), "up"))
    report = store.report()
    refused = report.split("Most often refused")[1].split("Most often given only")[0]
    assert refused.index("2  how much?") < refused.index("1  do you open sundays?") and "melasma" not in refused
    closest = report.split("Most often given only the closest passages")[1].split("Answers most often")[0]
    assert "1  what about melasma?" in closest and "how much" not in closest
    assert "2 down, 0 up  is it permanent?" in report
    assert "scars" not in report.split("voted down")[1]


def test_a_second_vote_on_an_answer_replaces_the_first(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    for _ in range(50):
        store.record_vote(Vote("is it permanent?", "answered", ("c1",), "down", answer_id="a1", voter="10.0.0.1"))
    store.record_vote(Vote("is it permanent?", "answered", ("c1",), "up", answer_id="a1", voter="10.0.0.1"))
    store.record_vote(Vote("is it permanent?", "answered", ("c1",), "down", answer_id="a1", voter="10.0.0.2"))
    assert sorted(v["vote"] for v in store.votes()) == ["down", "up"]
    raw = sqlite3.connect(tmp_path / "f.sqlite3").execute("SELECT voter FROM votes").fetchall()
    assert all("10.0.0" not in str(row) for row in raw)  # only a keyed hash of the address is kept


def test_old_rows_are_purged_and_long_questions_bounded(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3", retention_days=90, max_chars=100)
    store.record_question("x" * 50_000, "invalid")
    store.record_question("old question", "out_of_scope")
    db = sqlite3.connect(tmp_path / "f.sqlite3")
    with db:
        db.execute("UPDATE questions SET created_at = '2000-01-01T00:00:00+00:00' WHERE question = 'old question'")
    assert [len(q) for (q,) in db.execute("SELECT question FROM questions ORDER BY id")] == [100, 12]
    assert store.purge() == 1
    assert [q for (q,) in db.execute("SELECT question FROM questions")] == ["x" * 100]
    assert store.purge() == 0  # what is left is recent


def test_an_older_feedback_file_is_upgraded_in_place(tmp_path):
    db = sqlite3.connect(tmp_path / "f.sqlite3")
    with db:
        db.execute("CREATE TABLE questions (id INTEGER PRIMARY KEY, question TEXT NOT NULL, status TEXT NOT NULL, "
                   "created_at TEXT NOT NULL)")
        db.execute("INSERT INTO questions (question, status, created_at) VALUES ('kept?', 'out_of_scope', "
                   "'2999-01-01T00:00:00+00:00')")
    store = FeedbackStore(tmp_path / "f.sqlite3")
    assert store.record_question("new one", "out_of_scope", channel="widget")
    assert "2  " not in store.report() and "kept?  (chat)" in store.report() and "new one  (widget)" in store.report()


def test_a_folder_that_cannot_be_written_loses_no_answer(tmp_path):
    # Root ignores file permissions, so the unwritable folder here is a path under a plain file.
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    store = FeedbackStore(blocker / "f.sqlite3")
    assert store.record_question("is it permanent?", "answered") is False
    assert store.record_vote(Vote("q", "answered", (), "up")) is False
    assert store.health() == {"ok": False, "error": "feedback cannot be stored (see the server log)"}
    assert "NotADirectoryError" in store.last_error or "FileExistsError" in store.last_error


def test_a_full_disk_is_reported_and_never_raises(tmp_path):
    """A real disk-full fault: the child process may not grow any file (RLIMIT_FSIZE)."""
    store = FeedbackStore(tmp_path / "f.sqlite3")
    store.record_question("warm", "answered")
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "from pathlib import Path\n"
        "from assistant.web.feedback import FeedbackStore\n"
        "store = FeedbackStore(Path(sys.argv[1]))\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))\n"
        "ok = [store.record_question('question %d ' % i + 'x' * 900, 'answered') for i in range(200)]\n"
        "print(all(ok), store.health()['ok'])\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "f.sqlite3")], capture_output=True,
                         text=True, timeout=60, cwd=PROJECT_ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
    assert "cannot" in out.stderr  # logged as a warning, not raised


def test_purge_and_report_commands(tmp_path, monkeypatch):
    import io

    from assistant.cli import main

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.record_question("how much is it?", "out_of_scope", channel="widget")
    db = sqlite3.connect(tmp_path / "feedback.sqlite3")
    with db:
        db.execute("UPDATE questions SET created_at = '2000-01-01T00:00:00+00:00'")
    out = io.StringIO()
    assert main(["report"], stdout=out) == 0 and "how much is it?  (widget)" in out.getvalue()
    out = io.StringIO()
    assert main(["purge"], stdout=out) == 0 and "deleted 1 questions, votes and callback requests older than 90 days" in out.getvalue()
    assert main(["purge", "--days", "-1"], stdout=io.StringIO()) == 2
