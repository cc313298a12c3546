from assistant.chunking import chunk_document, chunk_id
from assistant.cleaning import clean_document
from assistant.loading import SourceDocument, SourceLine


def _doc(lines, explicit=False, title="Microneedling aftercare"):
    return SourceDocument("doc.txt", title, "", "sha", tuple(
        SourceLine(i, t, bullet_depth=d) for i, (t, d) in enumerate(lines, start=1)), explicit)


ARTICLE = [
    ("menu", None),
    ("Microneedling aftercare", None),
    ("Related: what is a facial", None),
    ("Microneedling creates controlled micro injuries that stimulate collagen in the skin.", None),
    ("Healing", None),
    ("Microneedling redness after treatment fades within days as the skin heals and collagen grows.", None),
    ("Subscribe to our newsletter for weekly beauty tips!", None),
    ("Microneedling redness after treatment fades within a few days as skin heals and collagen grows.", None),
    ("Orphan heading", None),
    ("Results", None),
    ("Microneedling results for the skin depend on several factors, including:", 0),
    ("Skin type", 1),
    ("Aftercare", 1),
    ("Microneedling collagen results keep improving skin texture for months after treatment.", None),
    ("Cheap flights to Bali this weekend only, book your holiday tickets now.", None),
    ("What do you think?", None),
]


def _clean(lines=ARTICLE, embedder=None, threshold=0.1):
    from tests.conftest import HashingEmbedder

    return clean_document(_doc(lines), (embedder or HashingEmbedder()).embed_batch, threshold)


def test_furniture_is_dropped_with_a_reason_per_rule():
    reasons = {d.line: d.reason for d in _clean().dropped}
    assert reasons[1].startswith("fragment")
    assert reasons[2].startswith("document title")
    assert reasons[3].startswith("page header")
    assert reasons[7] == "link or call to action"
    assert reasons[9] == "heading with no text under it"
    assert reasons[15].startswith("off-topic for this document")
    assert reasons[16].startswith("page footer")


def test_near_duplicate_sentence_collapses_to_the_first():
    cleaned = _clean()
    dup = [d for d in cleaned.dropped if d.line == 8]
    assert dup and dup[0].reason == "near-duplicate of line 6"
    texts = [u.text for b in cleaned.blocks for u in b.units]
    assert sum("redness after treatment fades" in t for t in texts) == 1


def test_sections_and_lists_are_recognised():
    blocks = _clean().blocks
    assert [b.section for b in blocks] == ["Microneedling aftercare", "Healing", "Results", "Results"]
    assert blocks[2].units[0].text == (
        "Microneedling results for the skin depend on several factors, including: Skin type; Aftercare")


def test_without_an_embedder_the_structural_rules_still_apply():
    cleaned = clean_document(_doc(ARTICLE), None, 0.3)
    assert not any(d.reason.startswith("off-topic") for d in cleaned.dropped)
    assert any(d.reason.startswith("page footer") for d in cleaned.dropped)


def test_dependent_sentence_is_quoted_with_the_one_before():
    lines = [("Redness after microneedling is common and looks like a mild sunburn on the skin. "
              "This is a normal reaction that subsides in a day or two. Sun protection helps.", None)]
    units = [u.text for b in _clean(lines).blocks for u in b.units]
    assert units == ["Redness after microneedling is common and looks like a mild sunburn on the skin. "
                     "This is a normal reaction that subsides in a day or two.", "Sun protection helps."]


def test_chunks_respect_sections_size_and_have_stable_ids():
    cleaned = _clean()
    chunks = chunk_document(cleaned, max_chars=120)
    assert all(len({c.section}) == 1 for c in chunks)
    assert [c.section for c in chunks] == ["Microneedling aftercare", "Healing", "Results", "Results"]
    again = chunk_document(_clean(), max_chars=120)
    assert [c.id for c in chunks] == [c.id for c in again]
    assert chunks[0].id == chunk_id("doc.txt", chunks[0].section, chunks[0].text)
    assert chunk_id("doc.txt", "A", "text") != chunk_id("doc.txt", "B", "text")
    big = chunk_document(cleaned, max_chars=10_000)
    assert len(big) == 3  # one per section when size allows
