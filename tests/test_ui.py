from assistant.answer.answering import CAVEAT, OUT_OF_SCOPE, REFUSAL, URGENT, URGENT_MESSAGE, Answer, Citation
from assistant.web.ui import as_text, format_reply


def test_markup_is_escaped_not_rendered():
    shown = as_text("<img src=x onerror=alert(1)> **bold** [link](x)")
    assert "<img" not in shown and "&lt;img" in shown
    assert "\\*\\*bold\\*\\*" in shown and "\\[link\\]\\(x\\)" in shown


def test_answer_shows_markers_sources_and_caveat():
    citation = Citation(1, "Guide <b>", "Results", "Results last <i>months</i>.", "guide.txt", 0.8)
    reply = format_reply(Answer("q", "answered", "Results last <i>months</i>. [1]", (citation,)))
    assert reply.startswith("Results last &lt;i&gt;months&lt;/i&gt;. \\[1\\]")
    assert "**Sources**" in reply and "1. *Guide &lt;b&gt; — Results*" in reply
    assert reply.endswith(f"_{as_text(CAVEAT)}_")


def test_refusal_and_urgent_carry_the_caveat_and_no_sources():
    refusal = format_reply(Answer("q", OUT_OF_SCOPE, REFUSAL))
    urgent = format_reply(Answer("q", URGENT, URGENT_MESSAGE))
    assert "Sources" not in refusal + urgent
    assert urgent.startswith("**") and as_text(CAVEAT) in refusal and as_text(CAVEAT) in urgent
