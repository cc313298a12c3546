from assistant.ingest.chunking import chunk_document, chunk_id
from assistant.ingest.cleaning import clean_document
from assistant.ingest.loading import SourceDocument
from assistant.ingest.structure import SourceLine


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
    ("Microneedling redness after treatment fades within a few days as skin heals and collagen grows.", None),
    ("Orphan heading", None),
    ("Results", None),
    ("Microneedling results for the skin depend on several factors, including:", None),
    ("Skin type", 0),
    ("Aftercare", 0),
    ("Microneedling collagen results keep improving skin texture for months after treatment and beyond that.", None),
    ("What do you think?", None),
    ("Subscribe for weekly beauty tips!", None),
]


def _clean(lines=ARTICLE, explicit=False):
    return clean_document(_doc(lines, explicit))


def _units(cleaned):
    return [u for b in cleaned.blocks for u in b.units]


def test_furniture_is_dropped_with_a_reason_per_rule():
    reasons = {d.line: d.reason for d in _clean().dropped}
    assert reasons[1].startswith("fragment")
    assert reasons[2].startswith("document title")
    assert reasons[3].startswith("page header")
    assert reasons[8] == "heading with no text under it"
    # Below the last paragraph: a question and an exclamation, not statements of the article.
    assert reasons[14].startswith("page footer") and reasons[15].startswith("page footer")
    kept = " ".join(u.text for u in _units(_clean()))
    assert "beauty tips" not in kept and "What do you think" not in kept


def test_a_short_plain_statement_at_the_end_is_article_text():
    lines = ARTICLE[:13] + [("You may resume swimming and exercise after a week.", None)]
    assert _units(_clean(lines))[-1].text == "You may resume swimming and exercise after a week."


def test_near_duplicate_sentence_collapses_to_the_first():
    cleaned = _clean()
    dup = [d for d in cleaned.dropped if d.line == 7]
    assert dup and dup[0].reason == "near-duplicate of line 6"
    assert sum("redness after treatment fades" in u.text for u in _units(cleaned)) == 1


def test_short_list_entries_are_one_unit_under_their_lead_in():
    unit = next(u for u in _units(_clean()) if "Skin type" in u.text)
    assert unit.text == "Skin type; Aftercare"
    assert unit.context == "Microneedling results for the skin depend on several factors, including:"
    assert unit.quote == ("Microneedling results for the skin depend on several factors, including: … "
                          "Skin type; Aftercare")


def test_a_bullet_keeps_its_lead_in_and_the_opposite_list_keeps_its_own():
    lines = [("Microneedling may NOT be suitable for you if:", None),
             ("You are pregnant or breastfeeding.", 0),
             ("You have an active skin infection in the area.", 0),
             ("Treatment can usually still go ahead if:", None),
             ("Your cold sore has fully healed two weeks ago.", 0)]
    units = {u.text: u for u in _units(clean_document(_doc(lines, title="Consent form")))}
    assert units["You are pregnant or breastfeeding."].quote == (
        "Microneedling may NOT be suitable for you if: … You are pregnant or breastfeeding.")
    assert units["Your cold sore has fully healed two weeks ago."].context == "Treatment can usually still go ahead if:"


def test_an_answer_keeps_its_question_heading_and_a_fragment_its_day_heading():
    doc = SourceDocument("faq.html", "FAQ", "", "sha", (
        SourceLine(1, "Can I go back to work the next day?", heading_level=3),
        SourceLine(2, "Most people do. You may look a little flushed for a day."),
        SourceLine(3, "DAY 1", heading_level=2),
        SourceLine(4, "Makeup: NO.", bullet_depth=0),
        SourceLine(5, "Needle depth", heading_level=2),
        SourceLine(6, "We rarely go deeper than 2.0 mm on the face."),
    ), True)
    units = {u.text: u for u in _units(clean_document(doc))}
    assert units["Most people do."].quote == "Can I go back to work the next day? … Most people do."
    assert units["Makeup: NO."].quote == "DAY 1 … Makeup: NO."
    # A statement under a plain heading stands on its own; its section is in the citation.
    assert units["We rarely go deeper than 2.0 mm on the face."].context == ""


def test_a_table_row_is_one_unit_under_its_caption():
    doc = SourceDocument("prices.html", "Prices", "", "sha", (
        SourceLine(1, "Price list", heading_level=6),
        SourceLine(2, "Single session · Price: $340 · Time: 75 min", row=True),
    ), True)
    [unit] = _units(clean_document(doc))
    assert unit.quote == "Price list … Single session · Price: $340 · Time: 75 min"


def test_nested_headings_make_the_section_path():
    doc = SourceDocument("a.txt", "Aftercare", "", "sha", (
        SourceLine(1, "Keep this sheet somewhere handy for the next two weeks."),
        SourceLine(2, "DAY 1", heading_level=2),
        SourceLine(2, "What to expect"),
        SourceLine(3, "Red, stingy, sunburn-like skin for a few hours after treatment.", bullet_depth=0),
    ), False)
    block = clean_document(doc).blocks[-1]
    assert block.section == "DAY 1 › What to expect"
    assert block.units[0].context == "What to expect"


def test_a_line_opening_with_a_capital_label_is_quoted_under_it():
    lines = [("Keep these prices in mind when you answer the phone, please.", None),
             ("!! OLD PRICES - DO NOT QUOTE!! MN $380 / 3-pk $1,020 / PRP $300", None),
             ("Single sessions are full price in December, whatever the offer says.", None)]
    unit = _units(_clean(lines))[-2]
    assert unit.quote == "!! OLD PRICES - DO NOT QUOTE!! … MN $380 / 3-pk $1,020 / PRP $300"


def test_dependent_sentence_is_quoted_with_the_one_before():
    lines = [("Redness after microneedling is common and looks like a mild sunburn on the skin. "
              "This is a normal reaction that subsides in a day or two. Sun protection helps.", None)]
    units = [u.text for u in _units(_clean(lines))]
    assert units == ["Redness after microneedling is common and looks like a mild sunburn on the skin. "
                     "This is a normal reaction that subsides in a day or two.", "Sun protection helps."]


def test_loader_drops_are_reported_with_cleanings_own():
    from assistant.ingest.structure import Dropped

    doc = SourceDocument("a.html", "A", "", "sha", (SourceLine(5, "Microneedling takes about an hour in total."),), True,
                         (Dropped(2, "old copy", "HTML comment (not shown on the page)"),))
    assert [d.reason for d in clean_document(doc).dropped] == ["HTML comment (not shown on the page)"]


def test_chunks_keep_one_section_each_and_have_stable_ids():
    cleaned = _clean()
    chunks = chunk_document(cleaned, max_chars=120)
    assert [c.section for c in chunks] == ["Microneedling aftercare", "Healing", "Results", "Results"]
    for chunk in chunks:
        assert all(block.section == chunk.section for block in cleaned.blocks if set(block.units) & set(chunk.units))
    again = chunk_document(_clean(), max_chars=120)
    assert [c.id for c in chunks] == [c.id for c in again]
    assert chunks[0].id == chunk_id("doc.txt", chunks[0].section, chunks[0].text)
    assert chunk_id("doc.txt", "A", "text") != chunk_id("doc.txt", "B", "text")
    big = chunk_document(cleaned, max_chars=10_000)
    assert len(big) == 3  # one per section when size allows


def test_a_web_pages_label_above_a_heading_and_a_line_without_letters_are_dropped():
    lines = (SourceLine(1, "What to Expect"), SourceLine(2, "Your treatment, step by step", heading_level=2),
             SourceLine(3, "A numbing cream is applied twenty minutes before the session begins."),
             SourceLine(4, "1 / 5"),
             SourceLine(5, "Most clients feel only mild pressure during the treatment itself."))
    cleaned = clean_document(SourceDocument("page.html", "Microneedling", "", "sha", lines, True))
    reasons = {d.line: d.reason for d in cleaned.dropped}
    assert reasons[1].startswith("a label above a heading") and reasons[4].startswith("fragment")
    assert [u.text for u in _units(cleaned)] == [lines[2].text, lines[4].text]


def test_a_short_answer_without_its_full_stop_is_not_taken_for_a_label():
    lines = (SourceLine(1, "How long does it take?", heading_level=3), SourceLine(2, "Usually about an hour"),
             SourceLine(3, "Does it hurt?", heading_level=3), SourceLine(4, "Numbing cream keeps it comfortable for most."))
    cleaned = clean_document(SourceDocument("page.html", "Microneedling", "", "sha", lines, True))
    assert "Usually about an hour" in [u.text for u in _units(cleaned)]
