"""Pure formatting for the pages: replies as HTML for the chat, plain text for the front desk,
and passages with a readable relevance label, matched words marked and long text trimmed.

Every piece of corpus or visitor text is escaped before any tag is put around it, so markup in
a document or a question is shown as text and never rendered.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from ...answer.answering import (ANSWERED, CLOSEST, CLOSEST_LEAD, CLOSEST_TAIL, NOT_ANSWERED, URGENT, Answer,
                                 Citation, quote_groups)
from ...ingest.cleaning import CONTEXT_JOINER
from ...ingest.structure import row_cells
from ...settings import CONTACT_URL
from ...text import content_words, normalize, stem
from ..reading import document_href

# HTML's special characters and those Markdown (or KaTeX's "$$") would read as syntax. The chat
# renders messages as Markdown, so they are written as numeric character references, in one
# pass: the browser shows the characters, neither the HTML parser nor the Markdown renderer
# sees syntax, inside or outside an HTML block.
_SPECIAL = re.compile(r"""[&<>"'\\`*_{}\[\]()#+!|~$-]""")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")


def as_text(value: str) -> str:
    """Corpus or visitor text as HTML that displays exactly that text (no tag, no Markdown)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _SPECIAL.sub(lambda m: f"&#{ord(m.group(0))};", value).replace("\n", "<br>")


def question_html(question: str) -> str:
    """A visitor's question as one HTML block: shown as typed, with no Markdown read into it
    (a line starting "1." stays text). A lone surrogate ("\\ud800", not text) shows as "?", as
    the invalid reply echoes it: the page's JSON cannot carry it."""
    question = question.encode("utf-8", "replace").decode("utf-8")
    return f'<p class="question">{as_text(question)}</p>'


def tel_href(phone: str) -> str:
    """A ``tel:`` link target from a number as people write it ("+1 (555) 010-2000")."""
    digits = re.sub(r"[^\d+]", "", phone)
    return f"tel:{digits[0] + digits[1:].replace('+', '') if digits else ''}"


def _call_link(phone: str) -> str:
    return f'<a class="call" href="{html.escape(tel_href(phone))}">Call the clinic: {as_text(phone)}</a>'


def web_link(url: str) -> str:
    """The URL when it is a plain http(s) address (the rule CLINIC_CONTACT_URL is checked by), else "".

    Checked here too, since a page may be handed any string: a ``javascript:`` URL or one with a
    quote in it never becomes a link."""
    return url if url and CONTACT_URL.fullmatch(url) else ""


CONTACT_LINK_TEXT = "Book or contact us online"


LEAVE_QUESTION_TEXT = "Leave your question and how to reach you"


def contact_form_href(question: str, channel: str = "chat") -> str:
    """The callback form (/contact, see web/contact.py) with the question filled in. Relative, so
    it also works behind a proxy that serves the app under a prefix (the chat page is its root)."""
    return "contact?" + urlencode({"question": question, "channel": channel})


def contact_html(phone: str = "", url: str = "", question: str | None = None) -> str:
    """The way to a person under a reply that is not an answer: the clinic's number as a ``tel:``
    link, its booking or contact page, each only when set, and, given the ``question``, the form
    that leaves it with the patient's e-mail or phone; "" when there is none of these."""
    links = [_call_link(phone)] if phone else []
    if web_link(url):
        # A new tab, so the conversation stays open behind it; the link says so to screen readers.
        links.append(f'<a class="contact-link" href="{html.escape(url)}" target="_blank" rel="noopener">'
                     f'{CONTACT_LINK_TEXT}<span class="sr-only"> (opens in a new tab)</span></a>')
    if question is not None:
        links.append(f'<a class="contact-form-link" href="{html.escape(contact_form_href(question))}" '
                     f'target="_blank" rel="noopener">{LEAVE_QUESTION_TEXT}'
                     '<span class="sr-only"> (opens in a new tab)</span></a>')
    return f'<p class="contact">{" ".join(links)}</p>' if links else ""


def contact_text(phone: str = "", url: str = "") -> str:
    """The same way to a person as plain text; "" when neither is set."""
    lines = [f"Call the clinic: {phone}"] if phone else []
    if web_link(url):
        lines.append(f"{CONTACT_LINK_TEXT}: {url}")
    return "\n".join(lines)


# --- the chat page ------------------------------------------------------------------------

def source_extra(citation: Citation, answer: Answer) -> str:
    """What a citation's quote adds to the answer as shown: nothing when the answer shows it (the
    extractive answer quotes it whole, or its words under its lead-in or heading shown once above
    a run of quotes), its lead-in or heading when only that is missing, and the whole quote when
    the answer is in other words (a language model's)."""
    flat = " ".join(answer.answer.split())
    quote = " ".join(citation.quote.split())
    if quote in flat:
        return ""
    if citation.context:
        context, text = citation.context, citation.text
    else:  # a citation made without its context apart: the quote's first ellipsis ends it
        context, joiner, text = quote.partition(CONTEXT_JOINER.strip())
        context = context.strip() if joiner else ""
        text = text if joiner else quote
    if " ".join(text.split()) not in flat:
        return quote
    shown = bool(citation.context) and any(
        group.context == citation.context and any(citation.n in markers for _, markers in group.quotes)
        for group in quote_groups(answer.answer, answer.citations))
    return "" if shown or not context else context.strip()


def _marker_html(markers) -> str:
    return "".join(f'<sup class="marker">[{n}]</sup>' for n in markers)


def _markers(answer_html: str) -> str:
    # "[1]" in the escaped answer is "&#91;1&#93;"; shown as a small raised "[1]" so it reads as
    # a reference, not as part of the sentence.
    return re.sub(r"&#91;(\d+)&#93;", r'<sup class="marker">[\1]</sup>', answer_html)


def answer_html(text: str, citations: tuple[Citation, ...], tag: str = "div", classes: str = "answer") -> str:
    """An answer's quotes as one answer reads: a lead-in or heading that quotes share shown once, on
    a line above them; the quotes under it in one paragraph, each with its raised marker; a table
    row as its cells, a "label: value" line each. Every word shown is the answer's (only the
    ellipsis after a context and the cells' separators become line breaks)."""
    out = []
    for group in quote_groups(text, citations):
        if group.context:
            out.append(f'<p class="answer-lead">{as_text(group.context)}</p>')
        run: list[str] = []
        for words, markers in group.quotes:
            cells = row_cells(words)
            sups = (" " + _marker_html(markers)) if markers else ""
            if len(cells) > 1:
                if run:
                    out.append(f'<p class="answer-text">{" ".join(run)}</p>')
                    run = []
                out.append(f'<p class="answer-row">{"<br>".join(as_text(c) for c in cells)}{sups}</p>')
            else:
                run.append(f"{_markers(as_text(words))}{sups}")
        if run:
            out.append(f'<p class="answer-text">{" ".join(run)}</p>')
    return f'<{tag} class="{classes}">{"".join(out)}</{tag}>'


def reply_html(answer: Answer, clinic_phone: str = "", contact_url: str = "") -> str:
    """One chat reply as a single HTML block: the answer with its markers, the sources folded
    behind "Sources (n)" (title and section; the quote only where it adds something), and the
    caveat once, quietly, under the answer. An urgent reply stands out, offers the clinic's
    number when one is configured, and carries no caveat: nothing should soften it.

    A reply that is not an answer offers the clinic's number and booking or contact link (each
    when given) and carries no caveat either (it answers nothing the caveat could qualify); the
    closest passages are labelled "No direct answer" and set apart as quotes, so they cannot be
    read as an answer.

    An answer with an alert (a learned guard reading fired) starts with the urgent block, the
    message and the number, and then is an answer like any other."""
    if answer.status == URGENT:
        return f'<div class="reply reply-{URGENT}">{_urgent_html(answer.answer, clinic_phone)}</div>'
    # The status is a class: Gradio's sanitiser keeps classes and drops data- attributes.
    parts = [f'<div class="reply reply-{html.escape(answer.status)}">']
    if answer.alert is not None:
        parts.append(f'<div class="reply-alert">{_urgent_html(answer.alert.message, clinic_phone)}</div>')
    if answer.status == CLOSEST:
        parts.append(_closest_html(answer.answer, answer.citations))
    elif answer.citations:
        parts.append(answer_html(answer.answer, answer.citations))
    else:
        parts.append(f'<p class="answer">{_markers(as_text(answer.answer))}</p>')
    if answer.status in (ANSWERED, CLOSEST) and answer.citations:
        parts.append(_sources_html(answer))
    if answer.status in NOT_ANSWERED:  # "please contact our front desk"
        parts.append(contact_html(clinic_phone, contact_url, answer.question))
    if answer.status == ANSWERED:
        parts.append(f'<p class="caveat">{as_text(answer.caveat)}</p>')
    parts.append("</div>")
    return "".join(parts)


def _urgent_html(message: str, clinic_phone: str) -> str:
    call = f"<p>{_call_link(clinic_phone)}</p>" if clinic_phone else ""
    return (f'<p class="urgent-label"><span class="urgent-icon">⚠</span> Urgent</p>'
            f'<p class="answer urgent-message">{as_text(message)}</p>{call}')


def _closest_html(text: str, citations: tuple[Citation, ...] = ()) -> str:
    """The label, the lead, the quotes with their markers set apart, and the tail. A text not of
    that shape (no composer writes one today) is shown whole under the label."""
    label = '<p class="closest-label">No direct answer</p>'
    if not (text.startswith(CLOSEST_LEAD) and text.endswith(CLOSEST_TAIL)
            and len(text) > len(CLOSEST_LEAD) + len(CLOSEST_TAIL)):
        return f'{label}<p class="answer">{_markers(as_text(text))}</p>'
    quotes = text[len(CLOSEST_LEAD):-len(CLOSEST_TAIL)].strip()
    return (f'{label}<p class="closest-lead">{as_text(CLOSEST_LEAD)}</p>'
            f'{answer_html(quotes, citations, "blockquote", "answer closest-quotes")}'
            f'<p class="closest-tail">{as_text(CLOSEST_TAIL)}</p>')


def _sources_html(answer: Answer) -> str:
    items = []
    for c in answer.citations:
        extra = source_extra(c, answer)
        quote = f' <q class="source-quote">{as_text(extra)}</q>' if extra else ""
        # The title opens the document's page at the quoted passage (reading.py), in a new tab so
        # the conversation stays; relative, as the chat page is the app's root.
        title = as_text(c.title)
        if c.source:
            title = (f'<a class="source-title source-link" href="{html.escape(document_href(c.source, c.quote))}" '
                     f'target="_blank" rel="noopener">{title}<span class="sr-only"> (opens the document at this '
                     'passage in a new tab)</span></a>')
        else:
            title = f'<span class="source-title">{title}</span>'
        items.append(f'<li value="{c.n}">{title}'
                     f' — <span class="source-section">{as_text(c.section)}</span>{quote}</li>')
    return (f'<details class="sources"><summary>Sources ({len(answer.citations)})</summary>'
            f'<ol>{"".join(items)}</ol></details>')


def plain_reply(answer: Answer, caveat: bool = True, clinic_phone: str = "", contact_url: str = "") -> str:
    """The reply as plain text, to read out on the phone or paste into an e-mail; file names
    stay out (the reader is a patient). A reply that is not an answer also gives the clinic's
    number and booking or contact link, when given, before the caveat. An alert comes first."""
    parts = [answer.alert.message] if answer.alert is not None else []
    parts.append(answer.answer)
    if answer.status in (ANSWERED, CLOSEST) and answer.citations:
        parts.append("Sources:\n" + "\n".join(f"[{c.n}] {c.title} — {c.section}" for c in answer.citations))
    if answer.status in NOT_ANSWERED and (contact := contact_text(clinic_phone, contact_url)):
        parts.append(contact)
    if caveat and answer.status != URGENT:
        parts.append(answer.caveat)
    return "\n\n".join(parts)


# --- the front desk -----------------------------------------------------------------------

def strip_markers(text: str, citations: tuple[Citation, ...]) -> str:
    """The text without its citation markers (``[n]`` for the ``n`` of each given citation, after a
    quote); a text with no citations keeps any bracketed number it has."""
    numbers = "|".join(str(c.n) for c in citations)
    if not numbers:
        return text
    return re.sub(rf"\s*\[(?:{numbers})\](?=\s|$)", "", text).strip()


def patient_copy(answer: Answer, public: frozenset[str] | set[str], sources: bool = False,
                 clinic_phone: str = "", contact_url: str = "") -> str:
    """The reply as plain text for a patient (the desk's copy button): the quotes without their
    markers; for an answer the caveat; for a reply that is not an answer the clinic's number and
    booking or contact link (each when given); for an urgent one the number.

    With ``sources``, the cited documents follow as plain lines, title and section, but only
    those whose chunk id is in ``public``: a staff-only document's title (an internal cheat
    sheet's, say) never goes into what a patient reads. An alert comes first, with the number."""
    parts = []
    if answer.alert is not None:
        parts.append(answer.alert.message)
        if clinic_phone:
            parts.append(contact_text(clinic_phone))
    parts.append(strip_markers(answer.answer, answer.citations))
    if sources and answer.status in (ANSWERED, CLOSEST):
        lines = []
        for c in answer.citations:
            line = f"{c.title} — {c.section}" if c.section and c.section != c.title else c.title
            if c.chunk_id in public and line not in lines:
                lines.append(line)
        if lines:
            parts.append("Sources:\n" + "\n".join(lines))
    if answer.status in NOT_ANSWERED and (contact := contact_text(clinic_phone, contact_url)):
        parts.append(contact)
    if answer.status == URGENT and clinic_phone:
        parts.append(contact_text(clinic_phone))
    if answer.status == ANSWERED:
        parts.append(answer.caveat)
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Passage:
    """A retrieved passage as the front desk shows it."""

    rank: int
    title: str
    section: str
    text: str
    probability: float  # the relevance model's, for the passage's best sentence
    best: str = ""  # that sentence, to trim the passage around


def relevance_label(probability: float, threshold: float) -> str:
    """"strong", "fair" or "weak match", from the relevance model's calibrated probability.

    Strong: the answerer would quote it (at or above its fitted threshold). Fair: at least half
    that probability, so roughly one chance in five of answering at the fitted 0.39; a display
    band, not a decision. Weak: below.
    """
    if probability >= threshold:
        return "strong match"
    if probability >= threshold / 2:
        return "fair match"
    return "weak match"


def query_stems(query: str, correct=None) -> set[str]:
    """Stems of the query's content words (and of their spelling corrections, when given)."""
    found = set()
    for word in content_words(query):
        found.add(stem(word))
        if correct is not None:
            found.add(stem(correct(word)))
    return found


def highlight(text: str, stems: set[str]) -> str:
    """Escaped text with the words whose stem is among ``stems`` wrapped in <mark>."""
    out, last = [], 0
    for match in _WORD.finditer(text):
        out.append(html.escape(text[last:match.start()], quote=False))
        word = match.group(0)
        escaped = html.escape(word, quote=False)
        out.append(f"<mark>{escaped}</mark>" if stem(normalize(word).lower()) in stems else escaped)
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


# Passages longer than this are cut to a window around the match: two or three sentences, what a
# receptionist takes in at a glance (the corpus's 81 sentences: mean 142 characters, median 122;
# its 33 passages: median 377, longest 805, measured 2026-11-25).
TRIM_CHARS = 360
_SENTENCE_START = re.compile(r"(?<=[.!?])\s+(?=\S)")


def trim_around(text: str, anchor: str = "", stems: set[str] | None = None, limit: int = TRIM_CHARS) -> str:
    """The text, or when longer than ``limit`` a window of about ``limit`` characters around
    ``anchor`` (the best sentence) or else the first matched word, cut at word boundaries with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    anchor = " ".join(anchor.split())
    start = text.find(anchor) if anchor else -1
    length = len(anchor)
    if start < 0:
        length = 0
        for match in _WORD.finditer(text):
            if stems and stem(normalize(match.group(0)).lower()) in stems:
                start = match.start()
                break
        start = max(start, 0)
    # The window holds the anchor and what fits around it; it starts at the first sentence start
    # in the room before the anchor, or else at a word. Near the end, the room is all before it.
    room = max(0, limit - length)
    lo = max(0, start - room // 2)
    if start + length + room // 2 > len(text):
        lo = max(0, len(text) - limit)
    begin = next((m.end() for m in _SENTENCE_START.finditer(text) if lo <= m.end() <= start), lo)
    if 0 < begin < start and text[begin - 1] != " ":  # inside a word: start at the next one
        space = text.find(" ", begin, start)
        begin = space + 1 if space >= 0 else start
    end = min(len(text), begin + limit)
    if end < len(text):  # end at a word
        space = text.rfind(" ", begin, end)
        end = space if space > begin else end
    window = text[begin:end].strip()
    return ("… " if begin > 0 else "") + window + (" …" if end < len(text) else "")


def passages_html(query: str, passages: list[Passage], stems: set[str], threshold: float) -> str:
    """The ranked passages under a line naming the query they match (the answer box may still
    show an earlier question's answer while the receptionist types)."""
    caption = f'<p class="passages-for">Passages for “{html.escape(query.strip())}”</p>'
    if not passages:
        return f'<div class="passages">{caption}<p>No passages found.</p></div>'
    items = []
    for p in passages:
        label = relevance_label(p.probability, threshold)
        text = highlight(trim_around(p.text, p.best, stems), stems)
        items.append(
            f'<li class="passage"><div class="passage-head"><span class="passage-doc">'
            f'{html.escape(p.title)} — {html.escape(p.section)}</span> '
            f'<span class="relevance relevance-{label.split()[0]}">{label}</span></div>'
            f'<p class="passage-text">{text}</p></li>')
    return f'<div class="passages">{caption}<ol>{"".join(items)}</ol></div>'
