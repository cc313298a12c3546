"""The pages' formatting, without a browser: replies as HTML for the chat, plain text and passages
for the front desk."""

import html
import re

from assistant.answer.answering import CAVEAT, OUT_OF_SCOPE, REFUSAL, URGENT, URGENT_MESSAGE, Answer, Citation
from assistant.ingest.cleaning import CONTEXT_JOINER
from assistant.web.pages.desk import status_line
from assistant.web.pages.render import (Passage, as_text, highlight, passages_html, plain_reply, query_stems,
                                        question_html, relevance_label, reply_html, tel_href, trim_around)


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
    assert "<summary>Sources (1)</summary>" in reply and "guide.txt" not in reply
    assert "Guide &#60;b&#62;" in reply and "Results" in reply
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


def test_urgent_reply_stands_out_with_the_clinic_number_and_no_caveat():
    urgent = Answer("q", URGENT, URGENT_MESSAGE)
    with_phone = reply_html(urgent, clinic_phone="+1 (555) 010-2000")
    assert 'href="tel:+15550102000"' in with_phone and "reply-urgent" in with_phone and "⚠" in with_phone
    assert as_text(CAVEAT) not in with_phone and "tel:" not in reply_html(urgent)
    assert CAVEAT not in plain_reply(urgent)


def test_refusal_carries_the_caveat_no_sources_and_the_number_to_call():
    refusal = reply_html(Answer("q", OUT_OF_SCOPE, REFUSAL))
    assert "Sources" not in refusal and shown(refusal).count(CAVEAT) == 1 and "tel:" not in refusal
    assert 'href="tel:5550100"' in reply_html(Answer("q", OUT_OF_SCOPE, REFUSAL), clinic_phone="555 0100")
    assert "tel:" not in reply_html(Answer("", "invalid", "Please type a question."), clinic_phone="555 0100")


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
