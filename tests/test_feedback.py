import sqlite3

import pytest

from assistant.web.feedback import FeedbackStore, Vote, redact


@pytest.mark.parametrize("text, expected", [
    ("mail me at jane.doe+x@clinic.co.uk please", "mail me at [email] please"),
    ("call 0412 345 678 or +44 (20) 7946-0958", "call [phone] or [phone]"),
    ("I had 3 sessions in 2026", "I had 3 sessions in 2026"),
])
def test_contact_details_are_redacted(text, expected):
    assert redact(text) == expected


def test_votes_and_questions_are_stored_redacted(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    store.record_vote(Vote("is it permanent? me@x.com", "answered", ("c1", "c2"), "down"))
    store.record_question("price for 0412 345 678?", "out_of_scope")
    assert store.votes()[0] | {"created_at": None} == {
        "question": "is it permanent? [email]", "status": "answered", "chunk_ids": ["c1", "c2"],
        "vote": "down", "created_at": None}
    raw = sqlite3.connect(tmp_path / "f.sqlite3").execute("SELECT question FROM questions").fetchall()
    assert raw == [("price for [phone]?",)]
    with pytest.raises(ValueError):
        store.record_vote(Vote("q", "answered", (), "sideways"))


def test_report_ranks_refusals_and_down_votes(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    for q in ["How much?", "how much?", "Do you open Sundays?"]:
        store.record_question(q, "out_of_scope")
    store.record_question("Is it permanent?", "answered")
    store.record_vote(Vote("Is it permanent?", "answered", ("c1",), "down"))
    store.record_vote(Vote("Is it permanent?", "answered", ("c1",), "down"))
    store.record_vote(Vote("Does it help scars?", "answered", ("c2",), "up"))
    report = store.report()
    refused = report.split("Most often refused")[1].split("Answers most often")[0]
    assert refused.index("2  how much?") < refused.index("1  do you open sundays?")
    assert "2 down, 0 up  is it permanent?" in report
    assert "scars" not in report.split("voted down")[1]
