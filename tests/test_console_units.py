"""The console's parts without a server: stored names, accounts, the sign-in limit, which paths
need which role, and the insights' grouping and CSV (fake embedder: similarity is word overlap)."""

from __future__ import annotations

import csv
import io
import re

import pytest

from assistant.errors import ConfigError
from assistant.web.console.accounts import UserStore
from assistant.web.console.auth import LoginLimiter, required_roles
from assistant.web.console.documents import safe_name
from assistant.web.console.insights import (CLOSEST_ONLY, DISLIKED, REFUSED, Group, Item, group_items, passages_behind,
                                            read_items, to_csv, weekly_counts)


@pytest.mark.parametrize("sent, stored", [
    ("aftercare.pdf", "aftercare.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\anna\\Desktop\\Aftercare Sheet (v2).PDF", "Aftercare-Sheet-v2.pdf"),
    ("Café crème.md", "Cafe-creme.md"),
    (".hidden.txt", "hidden.txt"),
    ("....", "document"),
    ("", "document"),
])
def test_stored_names_are_plain_and_never_paths(sent, stored):
    assert safe_name(sent) == stored


def test_accounts_are_hashed_checked_and_removed(tmp_path):
    store = UserStore(tmp_path / "users.toml")
    store.add("anna", "admin", "a long password")
    text = (tmp_path / "users.toml").read_text()
    assert "a long password" not in text and "$argon2id$" in text
    assert (tmp_path / "users.toml").stat().st_mode & 0o077 == 0
    assert store.verify("anna", "a long password").role == "admin"
    assert store.verify("anna", "a wrong password") is None and store.verify("bob", "a long password") is None
    with pytest.raises(ConfigError, match="at least 10 characters"):
        store.add("bob", "staff", "short")
    with pytest.raises(ConfigError, match="role 'owner'"):
        store.add("bob", "owner", "a long password")
    with pytest.raises(ConfigError, match="user name"):
        store.add("../bob", "staff", "a long password")
    assert store.remove("anna") and not store.remove("anna") and store.users() == {}


def test_login_limit_counts_per_name_and_address_and_slows_a_name_tried_everywhere():
    limiter = LoginLimiter("2/minute", "3/minute")
    assert [limiter.attempt("anna", "10.0.0.1")[0] for _ in range(3)] == [True, True, False]
    assert limiter.attempt("bob", "10.0.0.2") == (True, 0.0)  # another name from another address
    assert not limiter.attempt("carl", "10.0.0.1")[0]  # that address has used its three
    # The name tried past its limit from another address is let through, after a delay.
    assert limiter.attempt("anna", "10.0.0.3") == (True, LoginLimiter.NAME_DELAY)
    with pytest.raises(ConfigError, match="LOGIN_RATE_LIMIT='often'"):
        LoginLimiter("often", "3/minute")


@pytest.mark.parametrize("path, roles", [
    ("/admin", ("admin",)), ("/admin/documents/a.pdf", ("admin",)), ("/admin/login", None),
    ("/admin/static/console.css", None), ("/administrator", None), ("/desk", ("staff", "admin")),
    ("/desk/gradio_api/queue/join", ("staff", "admin")), ("/api/staff/ask", ("staff", "admin")),
    ("/api/ask", None), ("/", None), ("/widget.js", None),
])
def test_which_paths_need_which_role(path, roles):
    assert required_roles(path) == roles


def test_insights_group_near_duplicates_count_weeks_and_quote_formulas(fake_embedder):
    items = [
        Item(REFUSED, "How much does a session cost?", "widget", "2026-11-23T10:00:00+00:00"),
        Item(REFUSED, "how much does a session cost", "chat", "2026-11-24T10:00:00+00:00"),
        Item(REFUSED, "How much does one session cost?", "desk", "2026-11-16T09:00:00+00:00"),
        Item(DISLIKED, "=HYPERLINK(\"http://x\") is it safe when pregnant?", "api", "2026-11-24T11:00:00+00:00"),
    ]
    groups = group_items(items, fake_embedder)
    assert [g.count for g in groups] == [3, 1]
    assert groups[0].channels == ["chat", "desk", "widget"] and groups[0].kinds[REFUSED] == 3
    assert weekly_counts(items) == [("2026-W48", 2, 0, 1), ("2026-W47", 1, 0, 0)]
    rows = list(csv.DictReader(io.StringIO(to_csv(groups))))
    assert {r["channel"] for r in rows} == {"widget", "chat", "desk", "api"}
    assert [r["question"] for r in rows if r["kind"] == DISLIKED] == ["'=HYPERLINK(\"http://x\") is it safe when pregnant?"]
    assert group_items([], fake_embedder) == []


def test_questions_met_with_the_closest_passages_are_a_gap_of_their_own(tmp_path, fake_embedder):
    from assistant.web.feedback import FeedbackStore, Vote

    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.record_question("How much does a session cost?", "out_of_scope", channel="widget")
    store.record_question("how many sessions for rosacea?", "closest", channel="chat")
    store.record_question("How many sessions for rosacea", "closest", channel="api")
    store.record_question("How long do results last?", "answered", channel="chat")
    store.record_vote(Vote("Is it safe when pregnant?", "answered", ("c1",), "down", answer_id="a1", channel="api"))
    items = read_items(store.path)
    assert sorted((i.kind, i.channel) for i in items) == [
        (CLOSEST_ONLY, "api"), (CLOSEST_ONLY, "chat"), (REFUSED, "widget"), (DISLIKED, "api")]
    groups = group_items(items, fake_embedder)
    rosacea = next(g for g in groups if "rosacea" in g.question)
    assert rosacea.count == 2 and rosacea.kinds[CLOSEST_ONLY] == 2 and rosacea.channels == ["api", "chat"]
    [(_, refused, closest, down)] = weekly_counts(items)
    assert (refused, closest, down) == (1, 2, 1)
    rows = list(csv.DictReader(io.StringIO(to_csv(groups))))
    assert sorted(r["kind"] for r in rows) == ["closest passages only"] * 2 + ["refused", "voted down"]


def test_a_voted_down_answer_shows_the_passages_it_quoted(tmp_path, fake_embedder):
    import sqlite3

    from assistant.web.feedback import FeedbackStore, Vote

    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    quote = "Does it hurt? … Most people feel mild pressure."
    for voter in ("10.0.0.1", "10.0.0.2"):
        store.record_vote(Vote("Does it hurt?", "answered", ("c1", "c2"), "down", answer_id="a1", voter=voter,
                               channel="widget", quotes=(quote, "Numbing cream is applied first.")))
    store.record_vote(Vote("Does it hurt?", "answered", ("c1",), "up", answer_id="a2", quotes=(quote,)))
    # A vote stored before votes kept their quotes: its passage's text comes from the index.
    with sqlite3.connect(store.path) as db:
        db.execute("INSERT INTO votes (question, status, chunk_ids, vote, created_at) VALUES (?, ?, ?, ?, ?)",
                   ("does it hurt", "answered", '["c3", "gone"]', "down", "2026-11-24T10:00:00+00:00"))
    [group] = group_items(read_items(store.path), fake_embedder)
    meta = {"c1": {"title": "FAQ", "section": "Comfort", "source": "faq.md", "text": "whole passage 1"},
            "c3": {"title": "Guide", "section": "Guide", "source": "sub/guide.txt", "text": "Old vote's passage."}}
    behind = passages_behind(group, meta)
    assert [(p.quote, p.title, p.times) for p in behind] == [
        (quote, "FAQ", 2), ("Numbing cream is applied first.", "", 2), ("Old vote's passage.", "Guide", 1), ("", "", 1)]
    # Each links to its document at the passage; a passage the index no longer holds has no link.
    assert behind[0].href == "/documents/faq.md?quote=Does+it+hurt%3F+%E2%80%A6+Most+people+feel+mild+pressure.#quote"
    assert behind[2].href.startswith("/documents/sub/guide.txt?quote=Old+vote") and behind[1].href == ""
    # Up-votes and refusals bring no passage.
    assert passages_behind(Group("q", [Item(REFUSED, "q", "chat", "2026-11-24T10:00:00+00:00")]), meta) == []


STAFF_NOTE = ("Front desk notes on fees\n\nMgr (Priya) can waive the missed-appointment fee once per patient; "
              "read the price script to callers who compare clinics.\n")


def _entries(settings) -> dict:
    import tomllib

    return tomllib.loads((settings.corpus_dir / "sources.toml").read_text(encoding="utf-8"))


def test_uploads_are_staff_only_until_published_and_hand_placed_files_stay_public(settings):
    from assistant.ingest.loading import load_corpus
    from assistant.web.console.documents import DocumentLibrary

    library = DocumentLibrary(settings)
    (settings.corpus_dir / "by-hand.txt").write_text("Placed by hand\n\nMicroneedling aftercare notes.\n")
    before = {d.name: d.audience for d in library.documents()}
    assert set(before.values()) == {"public"}  # the shipped entries have no audience key: public, as before

    name = library.add("fees.txt", STAFF_NOTE.encode(), title="Desk fees", origin="Manager")
    assert _entries(settings)[name] == {"title": "Desk fees", "origin": "Manager", "audience": "staff"}
    assert {d.source: d.audience for d in load_corpus(settings.corpus_dir).documents}[name] == "staff"
    assert {d.name: d.audience for d in library.documents()} == before | {name: "staff"}

    library.set_audience(name, "public")  # published: the key goes, the rest of the entry stays
    assert _entries(settings)[name] == {"title": "Desk fees", "origin": "Manager"}
    library.update(name, "Desk fees and waivers", "Manager")  # no audience given: it stays as it is
    assert library.get(name).audience == "public"
    library.set_audience(name, "staff")
    assert _entries(settings)[name]["audience"] == "staff"
    assert {d.name: d.audience for d in library.documents() if d.name != name} == before


@pytest.mark.parametrize("audience, message", [
    ("", "no audience was chosen: choose who may see the document"),
    ("everyone", "audience 'everyone' is not known: choose “staff” (the front desk only) or “public”"),
])
def test_a_missing_or_unknown_audience_changes_nothing(settings, audience, message):
    from assistant.web.console.documents import DocumentLibrary, Refused

    library = DocumentLibrary(settings)
    files = {p.name: p.read_bytes() for p in settings.corpus_dir.iterdir()}
    with pytest.raises(Refused, match=re.escape(message)):
        library.add("fees.txt", STAFF_NOTE.encode(), audience=audience)
    existing = next(iter(library.documents())).name
    with pytest.raises(Refused, match=re.escape(message)):
        library.set_audience(existing, audience)
    with pytest.raises(Refused, match=re.escape(message)):
        library.update(existing, "A new title", "", audience)
    assert {p.name: p.read_bytes() for p in settings.corpus_dir.iterdir()} == files


def test_an_ingest_that_meets_a_staff_upload_half_way_never_reads_it_as_public(settings, monkeypatch):
    """The upload lands just as an ingest lists corpus/: the file is there, so its staff-only
    entry must be too by the time the ingest reads sources.toml."""
    from assistant.ingest import loading
    from assistant.web.console.documents import DocumentLibrary

    library, listed = DocumentLibrary(settings), loading.corpus_files

    def upload_then_list(folder):
        if not (folder / "fees.txt").exists():
            library.add("fees.txt", STAFF_NOTE.encode())
        return listed(folder)

    monkeypatch.setattr(loading, "corpus_files", upload_then_list)
    loaded = {d.source: d.audience for d in loading.load_corpus(settings.corpus_dir).documents}
    assert loaded["fees.txt"] == "staff"
