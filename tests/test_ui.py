"""The pages' formatting, without a browser: replies as HTML for the chat, plain text and passages
for the front desk."""

import html
import re

import pytest

from assistant.answer.answering import (CAVEAT, CLOSEST, CLOSEST_LEAD, CLOSEST_TAIL, OUT_OF_SCOPE, REFUSAL, URGENT,
                                        URGENT_MESSAGE, Alert, Answer, Citation, crisis_message, quote_groups,
                                        quoted_answer)
from assistant.ingest.cleaning import CONTEXT_JOINER
from assistant.web.pages.desk import status_line
from assistant.web.pages.render import (Passage, as_text, highlight, passages_html, patient_copy, plain_reply,
                                        query_stems, question_html, relevance_label, reply_html, strip_markers,
                                        tel_href, trim_around)


def shown(fragment: str) -> str:
    """The text a browser shows for an HTML fragment (tags dropped, references decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_markup_and_markdown_are_escaped_not_rendered():
    value = "<img src=x onerror=alert(1)> **bold** [link](x) I'm 1. $$x$$ & \\"
    out = as_text(value)
    assert "<" not in out and ">" not in out and "*" not in out and "[" not in out and "$" not in out
    assert shown(out) == value
    assert question_html("1. first\r\nsecond").startswith('<p class="question">1. first<br>second')


def test_answer_shows_markers_folded_sources_without_file_names_and_the_caveat_once():
    citation = Citation(1, "Guide <b>", "Results", "Results last <i>months</i>.", "guide.txt", 0.8)
    reply = reply_html(Answer("q", "answered", "Results last <i>months</i>. [1]", (citation,)))
    assert '<sup class="marker">[1]</sup>' in reply and "<i>" not in reply
    assert "<summary>Sources (1)</summary>" in reply and "guide.txt" not in shown(reply)
    assert "Guide &#60;b&#62;" in reply and "Results" in reply
    # The title opens the document's page at the quoted passage, in a new tab; the file is named
    # only by its source id in the link, never shown.
    link = re.search(r'<a class="source-title source-link" href="([^"]+)" target="_blank" rel="noopener">', reply)
    assert html.unescape(link.group(1)) == "documents/guide.txt?quote=Results+last+%3Ci%3Emonths%3C%2Fi%3E.#quote"
    # The answer quotes the passage whole: the source does not repeat it.
    assert "source-quote" not in reply
    assert shown(reply).count(CAVEAT) == 1 and reply.index("</details>") < reply.index(as_text(CAVEAT))


def test_a_source_shows_only_what_the_answer_lacks():
    lead = "Aftercare"
    quoted = Citation(1, "Guide", "Care", f"{lead}{CONTEXT_JOINER}Keep skin clean.", "guide.txt", 0.8)
    reply = reply_html(Answer("q", "answered", "Keep skin clean. [1]", (quoted,)))
    assert re.search(r'<q class="source-quote">Aftercare</q>', reply)
    paraphrase = reply_html(Answer("q", "answered", "Clean skin matters [1]", (quoted,)))
    assert shown(paraphrase).count("Keep skin clean.") == 1


def _grouped() -> Answer:
    """An answer as the composer writes it when two quotes share their heading and a third is a
    table row under a caption: the heading once, before the first of its quotes."""
    hurt = "Does it hurt?"
    citations = (
        Citation(1, "FAQ", "Does it hurt?", f"{hurt}{CONTEXT_JOINER}Most people feel mild <b>pressure</b>.", "faq.md",
                 0.9, "c1", hurt),
        Citation(2, "FAQ", "Does it hurt?", f"{hurt}{CONTEXT_JOINER}Numbing cream is applied first.", "faq.md",
                 0.8, "c1", hurt),
        Citation(3, "Prices", "Prices", f"Price list{CONTEXT_JOINER}Single session · Price: $340 · Time: 75 min",
                 "prices.html", 0.7, "c2", "Price list"))
    return Answer("does it hurt and what does it cost", "answered", quoted_answer(citations), citations)


def test_a_shared_heading_is_shown_once_above_its_quotes_and_a_table_row_as_lines():
    answer = _grouped()
    assert answer.answer == ("Does it hurt? … Most people feel mild <b>pressure</b>. [1] Numbing cream is applied "
                             "first. [2] Price list … Single session · Price: $340 · Time: 75 min [3]")
    reply = reply_html(answer)
    body = re.search(r'<div class="answer">(.*?)</div>', reply).group(1)
    assert re.findall(r'<p class="answer-lead">(.*?)</p>', body) == ["Does it hurt?", "Price list"]
    assert shown(body).count("Does it hurt?") == 1 and "<b>" not in body
    text = re.search(r'<p class="answer-text">(.*?)</p>', body).group(1)
    assert shown(text) == "Most people feel mild <b>pressure</b>. [1] Numbing cream is applied first. [2]"
    # The row's cells one a line, "label: value", its marker after the last; no "·" row syntax.
    row = re.search(r'<p class="answer-row">(.*?)</p>', body).group(1)
    assert [shown(c) for c in row.split("<br>")[:2]] == ["Single session", "Price: $340"]
    assert row.endswith('<sup class="marker">[3]</sup>')
    assert "·" not in shown(body) and "…" not in shown(body)
    # Every word shown is the answer's: only the ellipsis after a context and the cells' separators
    # became line breaks.
    words = lambda t: re.findall(r"[\w$<>/]+", t)  # noqa: E731
    assert words(html.unescape(re.sub(r"<[^>]+>", " ", body))) == words(answer.answer)
    # Each source names what its quote adds: nothing, as the heading is shown above its words.
    assert "source-quote" not in reply


def test_quote_groups_read_an_answer_back_into_its_quotes():
    answer = _grouped()
    groups = quote_groups(answer.answer, answer.citations)
    assert [(g.context, [m for _, m in g.quotes]) for g in groups] == [("Does it hurt?", [(1,), (2,)]),
                                                                      ("Price list", [(3,)])]
    assert groups[0].quotes[1][0] == "Numbing cream is applied first."
    # Words that are not a cited quote (a language model's) stay as written, under no heading;
    # two markers after one sentence stay with it.
    free = quote_groups("Mild pressure, then numbing. [1] [2] Costs vary.", answer.citations)
    assert [(g.context, g.quotes) for g in free] == [("", (("Mild pressure, then numbing.", (1, 2)),
                                                           ("Costs vary.", ())))]
    # A quote cut from its context, with no context shown before it, is shown as written.
    alone = quote_groups("Numbing cream is applied first. [2]", answer.citations)
    assert [(g.context, g.quotes) for g in alone] == [("", (("Numbing cream is applied first.", (2,)),))]


def test_urgent_reply_stands_out_with_the_clinic_number_and_no_caveat():
    urgent = Answer("q", URGENT, URGENT_MESSAGE)
    with_phone = reply_html(urgent, clinic_phone="+1 (555) 010-2000")
    assert 'href="tel:+15550102000"' in with_phone and "reply-urgent" in with_phone and "⚠" in with_phone
    assert as_text(CAVEAT) not in with_phone and "tel:" not in reply_html(urgent)
    assert CAVEAT not in plain_reply(urgent)


def test_an_answer_with_an_alert_shows_the_message_first_then_the_whole_answer():
    citation = Citation(1, "Payments", "Plans", "Monthly payment plans are available.", "pay.txt", 0.8)
    message = crisis_message("call or text 988")
    answer = Answer("q", "answered", "Monthly payment plans are available. [1]", (citation,),
                    alert=Alert("crisis", message))
    reply = reply_html(answer, clinic_phone="555 0100")
    text = shown(reply)
    assert text.index(message) < text.index("Monthly payment plans") < text.index(CAVEAT)
    assert "reply-alert" in reply and 'href="tel:5550100"' in reply and "Sources (1)" in reply
    plain = plain_reply(answer)
    assert plain.startswith(message) and plain.endswith(CAVEAT) and "[1]" in plain
    copy = patient_copy(answer, frozenset(), clinic_phone="555 0100")
    assert copy.startswith(message) and "555 0100" in copy and "[1]" not in copy and copy.endswith(CAVEAT)
    # Without an alert, none of it.
    assert "reply-alert" not in reply_html(Answer("q", "answered", "Monthly payment plans are available. [1]",
                                                  (citation,)), clinic_phone="555 0100")


def test_refusal_carries_no_caveat_no_sources_and_the_number_to_call():
    refusal = reply_html(Answer("q", OUT_OF_SCOPE, REFUSAL))
    assert "Sources" not in refusal and CAVEAT not in shown(refusal) and "tel:" not in refusal
    assert 'href="tel:5550100"' in reply_html(Answer("q", OUT_OF_SCOPE, REFUSAL), clinic_phone="555 0100")
    assert "tel:" not in reply_html(Answer("", "invalid", "Please type a question."), clinic_phone="555 0100")


def _closest() -> Answer:
    """A closest-passages reply as the composer shapes it, with markup in a quote and a title."""
    first = Citation(1, "Guide <b>", "Sessions", "Most people book <i>three</i> sessions.", "guide.txt", 0.3)
    second = Citation(2, "FAQ", "Prices & offers", "Packages are cheaper per session.", "faq.md", 0.25)
    text = f"{CLOSEST_LEAD} {first.quote} [1] {second.quote} [2] {CLOSEST_TAIL}"
    return Answer("how many sessions for rosacea?", CLOSEST, text, (first, second))


def test_closest_passages_are_labelled_set_apart_cited_and_offer_a_person():
    reply = reply_html(_closest(), clinic_phone="+1 (555) 010-2000", contact_url="https://clinic.example/book?a=1&b=2")
    assert 'class="reply reply-closest"' in reply and '<p class="closest-label">No direct answer</p>' in reply
    # The lead, then the quotes with their markers set apart from it, then the tail.
    lead, quotes, tail = (re.search(rf'<{tag} class="{cls}">(.*?)</{tag}>', reply).group(1)
                          for tag, cls in (("p", "closest-lead"), ("blockquote", "answer closest-quotes"),
                                           ("p", "closest-tail")))
    assert shown(lead) == CLOSEST_LEAD and shown(tail) == CLOSEST_TAIL
    assert shown(quotes) == "Most people book <i>three</i> sessions. [1] Packages are cheaper per session. [2]"
    assert quotes.count('<sup class="marker">') == 2 and "<i>" not in reply and "<b>" not in reply
    # The sources fold as for an answer (title and section, no file names), each quote shown once.
    assert "<summary>Sources (2)</summary>" in reply and "guide.txt" not in shown(reply) and "faq.md" not in shown(reply)
    assert "Guide &#60;b&#62;" in reply and "Prices &#38; offers" in reply and "source-quote" not in reply
    # The way to a person: the phone as a tel: link and the booking page in a new tab.
    assert 'href="tel:+15550102000"' in reply
    assert ('<a class="contact-link" href="https://clinic.example/book?a=1&amp;b=2" target="_blank" rel="noopener">'
            in reply)
    # Not an answer: no caveat under it (an answer has it, see above).
    assert CAVEAT not in shown(reply) and reply.index("</details>") < reply.index('class="contact"')


def test_the_contact_line_shows_only_what_is_set():
    closest = _closest()
    # With no phone or link set, the line offers the callback form alone (the other links open the sources).
    links = re.findall(r'<a class="([^"]+)"', reply_html(closest))
    assert [c for c in links if "source-link" not in c] == ["contact-form-link"]
    phone_only = reply_html(closest, clinic_phone="555 0100")
    assert 'href="tel:5550100"' in phone_only and "contact-link" not in phone_only
    link_only = reply_html(closest, contact_url="http://clinic.example/contact")
    assert "tel:" not in link_only and 'href="http://clinic.example/contact"' in link_only
    # A refusal offers the same line; an answer and an invalid question offer none.
    refusal = reply_html(Answer("q", OUT_OF_SCOPE, REFUSAL), "555 0100", "https://clinic.example/book")
    assert 'href="tel:5550100"' in refusal and 'href="https://clinic.example/book"' in refusal
    assert "Sources" not in refusal and CAVEAT not in shown(refusal)
    answered = Answer("q", "answered", "Results last. [1]", (Citation(1, "G", "R", "Results last.", "g.txt", 0.8),))
    for other in (answered, Answer("", "invalid", "Please type a question.")):
        out = reply_html(other, "555 0100", "https://clinic.example/book")
        assert "tel:" not in out and "clinic.example" not in out and 'class="contact"' not in out


@pytest.mark.parametrize("url", [
    "javascript:alert(1)",
    "JAVASCRIPT:alert(document.cookie)//https://clinic.example",
    'https://clinic.example/" onmouseover="alert(1)',
    "https://clinic.example/'><script>alert(1)</script>",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/book",
    "ftp://clinic.example/book",
])
def test_a_contact_url_that_is_not_a_plain_web_address_never_becomes_a_link(url):
    for answer in (_closest(), Answer("q", OUT_OF_SCOPE, REFUSAL)):
        reply = reply_html(answer, contact_url=url)
        links = [a for a in re.findall(r"<a\b[^>]*>", reply) if 'class="source-title source-link"' not in a]
        assert links == [re.search(r'<a class="contact-form-link"[^>]*>', reply).group(0)]
        assert 'class="contact-link"' not in reply and "script>" not in reply
        assert "onmouseover" not in reply and "javascript" not in reply.lower()
        assert url not in plain_reply(answer, contact_url=url)


def test_a_reply_that_is_not_an_answer_links_the_callback_form_with_its_question():
    from dataclasses import replace
    from urllib.parse import parse_qs, urlsplit

    question = 'price for "deep" <b>acne</b> & scars?'
    for answer in (Answer(question, OUT_OF_SCOPE, REFUSAL), replace(_closest(), question=question)):
        reply = reply_html(answer, "555 0100")
        link = re.search(r'<a class="contact-form-link" href="([^"]*)" target="_blank" rel="noopener">(.*?)</a>', reply)
        href = html.unescape(link.group(1))
        assert href.startswith("contact?") and "<" not in link.group(1) and '"' not in link.group(1)
        assert parse_qs(urlsplit(href).query) == {"question": [question], "channel": ["chat"]}
        assert shown(link.group(2)) == "Leave your question and how to reach you (opens in a new tab)"
    assert "contact-form-link" not in reply_html(Answer("q", "answered", "Results last.", ()))
    assert "contact-form-link" not in reply_html(Answer("", "invalid", "Please type a question."))


def test_plain_closest_reply_has_its_sources_and_the_contact_line():
    closest = _closest()
    text = plain_reply(closest, clinic_phone="555 0100", contact_url="https://clinic.example/book")
    assert text.startswith(closest.answer) and text.endswith(CAVEAT)
    assert "Sources:\n[1] Guide <b> — Sessions\n[2] FAQ — Prices & offers" in text and "guide.txt" not in text
    assert "Call the clinic: 555 0100\nBook or contact us online: https://clinic.example/book" in text
    assert text.index("Sources:") < text.index("Call the clinic") < text.index(CAVEAT)
    # Without a phone or link, and for the callers that pass neither, the reply as before.
    assert "Call the clinic" not in plain_reply(closest) and "Book" not in plain_reply(closest, caveat=False)
    refusal = plain_reply(Answer("q", OUT_OF_SCOPE, REFUSAL), clinic_phone="555 0100")
    assert refusal == f"{REFUSAL}\n\nCall the clinic: 555 0100\n\n{CAVEAT}"
    answered = Answer("q", "answered", "Results last. [1]", (Citation(1, "G", "R", "Results last.", "g.txt", 0.8),))
    assert "Call the clinic" not in plain_reply(answered, clinic_phone="555 0100")


def test_tel_link_keeps_digits_and_a_leading_plus():
    assert tel_href("+44 (0)20 7946-0958") == "tel:+4402079460958"
    assert tel_href("555 0100 +1") == "tel:55501001"


def test_plain_reply_with_and_without_caveat_names_no_files():
    citation = Citation(1, "Guide", "Results", "Results last.", "guide.txt", 0.8)
    answer = Answer("q", "answered", "Results last. [1]", (citation,))
    assert plain_reply(answer).endswith(CAVEAT) and CAVEAT not in plain_reply(answer, caveat=False)
    assert "[1] Guide — Results" in plain_reply(answer) and "guide.txt" not in plain_reply(answer)


def test_relevance_label_reads_the_calibrated_probability():
    assert [relevance_label(p, 0.4) for p in (0.9, 0.4, 0.25, 0.1)] == [
        "strong match", "strong match", "fair match", "weak match"]


def test_matched_words_are_marked_after_escaping_by_stem():
    stems = query_stems("how many sessions after treatment?")
    out = highlight("A <b>session</b> & treatments; mark</mark>", stems)
    assert "<mark>session</mark>" in out and "<mark>treatments</mark>" in out
    assert "&lt;b&gt;" in out and "<b>" not in out and "&amp;" in out and out.count("<mark>") == 2
    assert "<mark>" not in highlight("the", query_stems("the session"))  # a stop word is no match


def test_long_passages_are_trimmed_around_the_match():
    filler = " ".join(f"word{i}" for i in range(200))
    text = f"{filler} The number of sessions varies. {filler}"
    trimmed = trim_around(text, "The number of sessions varies.", limit=120)
    assert "The number of sessions varies." in trimmed and trimmed.startswith("… ") and trimmed.endswith(" …")
    assert len(trimmed) <= 124
    by_word = trim_around(text, "", query_stems("sessions"), limit=120)
    assert "sessions" in by_word
    assert trim_around("Short passage.", "") == "Short passage."
    # With a sentence start in the room before the match, the window starts there.
    text = f"{filler}. Lead sentence. The number of sessions varies. {filler}"
    assert trim_around(text, "The number of sessions varies.", limit=120).startswith(
        "… Lead sentence. The number of sessions varies. word0")


def test_passages_show_labels_not_scores():
    out = passages_html("session", [Passage(1, "Guide", "Care <x>", "Keep skin clean after a session.", 0.7, "")],
                        query_stems("session"), threshold=0.39)
    assert "strong match" in out and "0.7" not in out and "&lt;x&gt;" in out and "<mark>session</mark>" in out


def test_status_line_shows_a_readable_date_not_an_iso_timestamp():
    line = status_line({"ready": True, "files": 2, "chunks": 33, "ingested_at": "2026-11-25T18:47:03+00:00"})
    assert "25 Nov 2026, 18:47" in line and "T18" not in line


def test_desk_passages_for_text_that_cannot_be_encoded_are_none():
    from assistant.web.pages.desk import scored_passages

    assert scored_passages(object(), "\ud800 sessions") == []


# --- what the front desk copies for a patient ----------------------------------------------------

STAFF_TITLE = "FRONT DESK CHEAT SHEET – scripts upd 09/24 KT"


def _mixed() -> Answer:
    """An answer quoting a staff-only note and a public guide, as the desk gets it."""
    staff = Citation(1, STAFF_TITLE, STAFF_TITLE, "Most patients book three sessions.", "cheat.txt", 0.8, "c-staff")
    public = Citation(2, "Guide", "Sessions", "Sessions are a month apart.", "guide.txt", 0.7, "c-public")
    again = Citation(3, "Guide", "Sessions", "Each takes an hour.", "guide.txt", 0.6, "c-public-2")
    text = f"{staff.quote} [1] {public.quote} [2] {again.quote} [3]"
    return Answer("how many sessions?", "answered", text, (staff, public, again))


def test_markers_are_stripped_only_where_they_are_citations():
    answer = _mixed()
    assert strip_markers(answer.answer, answer.citations) == (
        "Most patients book three sessions. Sessions are a month apart. Each takes an hour.")
    # A bracketed number that is no citation's stays: "[4]" here, and anything without citations.
    assert strip_markers("Step [4] comes last. [1]", answer.citations[:1]) == "Step [4] comes last."
    assert strip_markers("See note [1].", ()) == "See note [1]."


def test_patient_copy_has_no_markers_no_staff_title_and_the_caveat():
    answer, public = _mixed(), frozenset({"c-public", "c-public-2"})
    plain = patient_copy(answer, public)
    assert plain == ("Most patients book three sessions. Sessions are a month apart. Each takes an hour."
                     f"\n\n{CAVEAT}")
    with_sources = patient_copy(answer, public, sources=True)
    # The public document once, as a plain line; the staff note's title never.
    assert with_sources == (
        "Most patients book three sessions. Sessions are a month apart. Each takes an hour."
        f"\n\nSources:\nGuide — Sessions\n\n{CAVEAT}")
    assert STAFF_TITLE not in with_sources and not re.search(r"\[\d+\]", with_sources)
    # Nothing public cited (or the index no longer knows the chunks): no sources block at all.
    assert patient_copy(answer, frozenset(), sources=True) == plain


def test_patient_copy_of_what_is_not_an_answer_offers_a_person_without_the_caveat():
    url = "https://clinic.example/book"
    refusal = patient_copy(Answer("q", OUT_OF_SCOPE, REFUSAL), frozenset(), True, "555 0100", url)
    assert refusal == f"{REFUSAL}\n\nCall the clinic: 555 0100\nBook or contact us online: {url}"
    closest = _closest()
    text = patient_copy(closest, frozenset(), sources=True, clinic_phone="555 0100")
    assert text.startswith(f"{CLOSEST_LEAD} Most people book <i>three</i> sessions. Packages are cheaper")
    assert "[1]" not in text and "Sources" not in text and CAVEAT not in text and text.endswith("555 0100")
    urgent = patient_copy(Answer("q", URGENT, URGENT_MESSAGE), frozenset(), True, "555 0100", url)
    assert urgent == f"{URGENT_MESSAGE}\n\nCall the clinic: 555 0100"
    assert patient_copy(Answer("", "invalid", "Please type a question."), frozenset()) == "Please type a question."


def test_a_desk_passage_keeps_each_sentence_with_its_label_or_lead_in():
    from assistant.answer.retrieval import UnitRecord
    from assistant.web.pages.desk import passage_text

    def unit(position, text, context=""):
        return UnitRecord(f"c1:{position}", "c1", text, None, context)

    units = [unit(2, "MN $380 / 3-pk $1,020", "!! OLD PRICES - DO NOT QUOTE !!"),
             unit(0, "MN single $340", "PRICES (current)"), unit(1, "Consult $50", "PRICES (current)"),
             unit(3, "Ask first.", "!! OLD PRICES - DO NOT QUOTE !!")]
    # The section's own heading is shown above the passage; a label inside it is kept with what it labels, once.
    assert passage_text(units, "Staff notes › PRICES (current)") == (
        "MN single $340 Consult $50 !! OLD PRICES - DO NOT QUOTE !! … MN $380 / 3-pk $1,020 Ask first.")
    assert passage_text([], "X") == ""
