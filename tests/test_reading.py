"""The read-only document page's parts: the document as the index holds it, in order under its
headings, the quoted passage found and marked, and who may see it. Fake embedder, real Chroma
folder (the page itself, in a browser, is in tests/test_pages.py)."""

from __future__ import annotations

from assistant.answer.retrieval import IndexReader
from assistant.index import ChromaIndex, open_client
from assistant.ingest.ingestion import run_ingest
from assistant.web.reading import UnitRow, document_blocks, document_href, document_view, find_unit, mark_quote

PAGE = """# Clinic FAQ

## Does it hurt?

Most people feel mild pressure. Numbing cream is applied first.

## Before your visit

!! OLD PRICES - DO NOT QUOTE !! Microneedling was 380 dollars a session. A package was 1020 dollars.

You may NOT be suitable for treatment if:

- You are pregnant or breastfeeding.
- You have an active skin infection.

## Prices

| Treatment | Price | Time |
| --- | --- | --- |
| Single session | $340 | 75 min |
| Three sessions | $915 | 3 x 75 min |
"""


def _view(tmp_settings, embedder, source, quote=""):
    index = ChromaIndex(open_client(tmp_settings), tmp_settings.collection)
    run_ingest(tmp_settings, embedder, index, progress=False)
    snapshot = IndexReader(index, tmp_settings, embedder, refresh_seconds=0).current()
    return document_view(snapshot, source, tmp_settings.corpus_dir, quote), snapshot


def _text(block) -> str:
    return "".join(s.text for s in block.spans)


def test_a_document_reads_in_order_under_its_headings_with_rows_as_lines(settings, fake_embedder):
    (settings.corpus_dir / "faq.md").write_text(PAGE, encoding="utf-8")
    view, _ = _view(settings, fake_embedder, "faq.md")
    assert view.title == "Clinic FAQ" and not view.staff and view.found
    shown = [(b.kind, _text(b)) for b in view.blocks]
    assert shown[:3] == [("heading", "Does it hurt?"),
                         ("text", "Most people feel mild pressure. Numbing cream is applied first."),
                         ("heading", "Before your visit")]
    # The label stays with what it labels, once above its sentences; a list's lead-in is the end of the
    # paragraph before it, so it is not repeated above the items.
    assert ("lead", "!! OLD PRICES - DO NOT QUOTE !!") in shown
    label = shown.index(("lead", "!! OLD PRICES - DO NOT QUOTE !!"))
    assert shown[label + 1][0] == "text" and "380 dollars" in shown[label + 1][1]
    assert [t for k, t in shown if "suitable" in t] == ["You may NOT be suitable for treatment if:"]
    # A table row: its cells, one a line ("label: value"), never the row syntax.
    rows = [b for b in view.blocks if b.kind == "row"]
    assert [[s.text for s in b.spans] for b in rows] == [["Single session", "Price: $340", "Time: 75 min"],
                                                          ["Three sessions", "Price: $915", "Time: 3 x 75 min"]]
    assert ("heading", "Prices") in shown


def test_the_quoted_passage_and_its_context_are_marked(settings, fake_embedder):
    (settings.corpus_dir / "faq.md").write_text(PAGE, encoding="utf-8")
    _, snapshot = _view(settings, fake_embedder, "faq.md")
    quote = "Does it hurt? … Numbing cream is applied first."
    view = document_view(snapshot, "faq.md", settings.corpus_dir, quote)
    marked = [(b.kind, s.text, s.anchor) for b in view.blocks for s in b.spans if s.mark]
    assert marked == [("heading", "Does it hurt?", False), ("text", "Numbing cream is applied first.", True)]
    # A list item under its lead-in: the end of the paragraph before it is marked with it.
    item = document_view(snapshot, "faq.md", settings.corpus_dir,
                         "You may NOT be suitable for treatment if: … You have an active skin infection.")
    assert [s.text for b in item.blocks for s in b.spans if s.mark] == [
        "You may NOT be suitable for treatment if:", "You have an active skin infection."]
    # A row, whole; a quote the document no longer holds is said to be missing, nothing marked.
    row = document_view(snapshot, "faq.md", settings.corpus_dir, "Prices … Three sessions · Price: $915 · Time: 3 x 75 min")
    assert [s.text for b in row.blocks for s in b.spans if s.mark] in (
        ["Three sessions", "Price: $915", "Time: 3 x 75 min"], ["Prices", "Three sessions", "Price: $915", "Time: 3 x 75 min"])
    gone = document_view(snapshot, "faq.md", settings.corpus_dir, "Microneedling is free on Sundays.")
    assert not gone.found and not any(s.mark for b in gone.blocks for s in b.spans)


def test_unknown_and_staff_only_documents(settings, fake_embedder):
    (settings.corpus_dir / "faq.md").write_text(PAGE, encoding="utf-8")
    (settings.corpus_dir / "desk.txt").write_text("Desk notes\n\nThe manager may waive the consultation fee once "
                                                  "for a returning patient.\n", encoding="utf-8")
    with open(settings.corpus_dir / "sources.toml", "a", encoding="utf-8") as toml:
        toml.write('\n["desk.txt"]\ntitle = "Desk notes"\naudience = "staff"\n')
    view, snapshot = _view(settings, fake_embedder, "desk.txt")
    assert view.staff and document_view(snapshot, "faq.md", settings.corpus_dir) is not None
    # Names are source ids only: a path on the server, or a name the index does not hold, is nothing.
    for name in ("../corpus/faq.md", str(settings.corpus_dir / "faq.md"), "nothing.md", ""):
        assert document_view(snapshot, name, settings.corpus_dir) is None
    # Made staff-only in sources.toml: closed at once, before the re-index.
    with open(settings.corpus_dir / "sources.toml", "a", encoding="utf-8") as toml:
        toml.write('\n["faq.md"]\naudience = "staff"\n')
    assert document_view(snapshot, "faq.md", settings.corpus_dir).staff


def test_links_name_the_document_and_carry_the_start_of_a_long_quote():
    assert document_href("faq.md") == "documents/faq.md"
    assert document_href("sub dir/a&b.md", "x & y") == "documents/sub%20dir/a%26b.md?quote=x+%26+y#quote"
    long = "word " * 300
    units = [UnitRow("u1", "c1", 1, 0, long.strip()), UnitRow("u2", "c1", 2, 0, "word word other")]
    href = document_href("a.md", long)
    assert len(href) < 700 and find_unit(units, long[:500]).id == "u1"
    # A short start could name more than one passage: it must match whole.
    assert find_unit(units, "word word") is None and find_unit(units, "word word other").id == "u2"


def test_blocks_without_an_index():
    units = [UnitRow("c1:0", "c1", 3, 0, "Most people do.", "Can I work the next day?"),
             UnitRow("c1:1", "c1", 3, 1, "Redness fades.", "Can I work the next day?"),
             UnitRow("c2:0", "c2", 9, 0, "Makeup: NO.", "DAY 1")]
    sections = {"c1": "Aftercare › Can I work the next day?", "c2": "Aftercare › Timeline"}
    blocks = document_blocks("Guide", units, sections)
    assert [(b.kind, b.level, _text(b)) for b in blocks] == [
        ("heading", 2, "Aftercare"), ("heading", 3, "Can I work the next day?"),
        ("text", 0, "Most people do. Redness fades."), ("heading", 3, "Timeline"), ("lead", 0, "DAY 1"),
        ("text", 0, "Makeup: NO.")]
    marked = mark_quote(blocks, units[2])
    assert [(b.kind, s.anchor) for b in marked for s in b.spans if s.mark] == [("lead", False), ("text", True)]
