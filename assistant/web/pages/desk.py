"""The front-desk page (mounted at /desk/): search the clinic's documents while on the phone.

Passages follow the receptionist's typing; the answer is decided only after a pause in typing
or on Enter, so it never shows the refusal for a half-typed question.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Callable

from . import record_question
from ...answer.answering import URGENT, Answer
from ...answer.chain import Turn
from ...answer.guards import is_text
from ...ingest.cleaning import CONTEXT_JOINER, SECTION_SEPARATOR
from ...ingest.loading import PUBLIC, STAFF
from ..widget_config import widget_config
from .render import Passage, passages_html, patient_copy, plain_reply, query_stems, relevance_label

# The answer is decided once typing pauses this long. Typists leave about 240 ms between keys on
# average (Dhakal et al., CHI 2018, 136M keystrokes); 800 ms, over three times that, is a pause
# rather than a gap between two letters. Not measured on receptionists: tune it if they find it slow.
PAUSE_MS = 800
PASSAGES = 5

CSS = """
.gradio-container { max-width: 980px !important; margin: 0 auto !important; }
#desk-title h1 { font-size: 1.3rem; margin: 0; }
#desk-status p { margin: 0; font-size: 0.85rem; }
#desk-caveat p { font-size: 0.85rem; margin: 0; color: #4b5563; }
.dark #desk-caveat p { color: #d1d5db; }
#desk-copy-row { align-items: center; }
#desk-copy-row button { flex: 0 0 auto; min-width: 10rem; min-height: 44px; }
#desk-copied { font-size: 0.85rem; min-height: 1.2em; }
.passages ol { list-style: none; padding: 0; margin: 0; }
.passages-for { font-size: 0.85rem; margin: 0 0 0.25rem; }
.passage { border-top: 1px solid var(--border-color-primary); padding: 0.5rem 0; }
.passage-head { display: flex; flex-wrap: wrap; gap: 0.25rem 0.75rem; align-items: baseline; }
.passage-doc { font-weight: 600; }
.relevance { white-space: nowrap; font-size: 0.8rem; padding: 0.05rem 0.5rem; border-radius: 999px;
  border: 1px solid currentColor; }
.relevance-strong { color: #05603a; }
.relevance-fair { color: #7a4d00; }
.relevance-weak { color: #4b5563; }
.passage-text { margin: 0.25rem 0 0; }
.passage-text mark { background: #fde68a; color: #111827; padding: 0 0.1em; border-radius: 2px; }
"""

# The page's behaviour in the browser (served as /pages/desk.js). Typing (an input event in the
# search box) restarts the pause; when it runs out, the hidden "Answer now" button asks for the
# answer; Enter asks at once (Gradio's submit) and cancels the pause. The copy button copies the
# answer as a patient should read it (decide() writes it into two hidden boxes, without and with
# the public sources; the tick box chooses). The Clipboard API needs a secure context; a
# front desk on http://clinic-pc:7860 is not one, so the older copy command is the fallback there
# (its scratch text area takes the focus: it is given back to the button).
SCRIPT = """(() => {
  let pause;
  document.addEventListener('input', (event) => {
    if (!event.target.closest || !event.target.closest('#desk-query')) return;
    clearTimeout(pause);
    pause = setTimeout(() => document.querySelector('#desk-decide')?.click(), %d);
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && event.target.closest && event.target.closest('#desk-query')) {
      clearTimeout(pause);
    }
  }, true);
  const copied = (note) => { const s = document.querySelector('#desk-copied'); if (s) s.textContent = note; };
  const copy = (text, note) => {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(() => copied(note));
      return;
    }
    const back = document.activeElement, area = document.createElement('textarea');
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand('copy');
    area.remove();
    if (back) back.focus();
    copied(note);
  };
  document.addEventListener('click', (event) => {
    if (!(event.target.closest && event.target.closest('#desk-copy'))) return;
    const sources = document.querySelector('#desk-sources input[type=checkbox]')?.checked;
    const box = sources ? '#desk-patient-sources textarea' : '#desk-patient textarea';
    const text = document.querySelector(box)?.value || '';
    if (!text) { copied('Nothing to copy yet: ask a question first.'); return; }
    copy(text, sources ? 'Copied for a patient, with sources.' : 'Copied for a patient.');
  });
})();
""" % PAUSE_MS
HEAD = '<script src="../pages/desk.js"></script>'  # relative: the page is at <root>/desk/


def scored_passages(assistant, query: str, k: int = PASSAGES) -> list[Passage]:
    """The top ``k`` passages for the query, each with the relevance model's probability for its
    best sentence (the one the answerer would quote), which the label is read from; the most
    likely to answer first (retrieval's fused rank breaks ties)."""
    if not is_text(query):  # a lone surrogate: no passage matches what cannot be encoded
        return []
    docs = assistant.lookup(query, k, audience=STAFF)  # the desk sees staff-only documents too
    if not docs:
        return []
    steps = assistant.steps
    turn = steps.contextualise(Turn(query, audience=STAFF))[0]  # no history: one reading
    turn = steps.gather(replace(turn, passages=tuple(docs)))
    best = {}
    for scored in turn.evidence.units:  # best first
        best.setdefault(scored.unit.chunk_id, scored)
    units = {}
    for unit in assistant.reader.current().units_for([d.metadata["chunk_id"] for d in docs]):
        units.setdefault(unit.chunk_id, []).append(unit)
    passages = []
    for d in docs:
        m, top = d.metadata, best.get(d.metadata["chunk_id"])
        text = passage_text(units.get(m["chunk_id"], []), m["section"]) or d.page_content
        passages.append(Passage(m["rank"], m["title"], m["section"], text,
                                top.probability if top else 0.0, top.unit.text if top else ""))
    return sorted(passages, key=lambda p: (-p.probability, p.rank))


def passage_text(units, section: str) -> str:
    """A passage as its sentences are quoted: each with the lead-in or label it stands under
    ("!! OLD PRICES - DO NOT QUOTE !! … MN $380"), said once for a run of sentences under the
    same one, and not when it is the section's own heading (shown above the passage)."""
    heading = section.rsplit(SECTION_SEPARATOR, 1)[-1]
    parts, previous = [], None
    # A unit's id ends with its position in the chunk (a store may hand them back in any order).
    for unit in sorted(units, key=lambda u: int(u.id.rsplit(":", 1)[-1]) if u.id.rsplit(":", 1)[-1].isdigit() else 0):
        said = unit.context and unit.context != previous and unit.context != heading
        parts.append(f"{unit.context}{CONTEXT_JOINER}{unit.text}" if said else unit.text)
        previous = unit.context
    return " ".join(parts)


def status_line(status: dict) -> str:
    if not status["ready"]:
        return "The documents are not indexed yet: run `python ingest.py`."
    when = status.get("ingested_at") or ""
    try:
        when = datetime.fromisoformat(when).strftime("%-d %b %Y, %H:%M %Z").strip()
    except ValueError:
        pass
    return f"Searching {status['files']} documents ({status['chunks']} passages), updated {when}."


def public_chunks(assistant, answer: Answer) -> frozenset[str]:
    """The chunk ids of the answer's citations that come from public documents, as the index
    now says; a chunk it no longer knows counts as not public (its title stays out)."""
    meta = assistant.reader.current().meta
    return frozenset(c.chunk_id for c in answer.citations
                     if c.chunk_id in meta and (meta[c.chunk_id].get("audience") or PUBLIC) == PUBLIC)


def patient_answer(assistant, query: str, answer: Answer) -> Answer:
    """What the copy button gives a patient for the desk's ``answer``: that answer, unless it quotes
    a part its document marks as not to be used (markers.py: "OLD PRICES - DO NOT QUOTE"); then
    the answer a patient asking the same gets, which never quotes one."""
    meta = assistant.reader.current().meta
    if not any((meta.get(c.chunk_id) or {}).get("withheld") for c in answer.citations):
        return answer
    return assistant.ask(query)


def build_desk_page(assistant, feedback=None, config: Callable[[], dict] | None = None):
    """The front-desk page; refused questions it decides are recorded in ``feedback`` when given;
    ``config`` returns the widget's configuration (its phone and booking or contact link go
    into what is copied for a patient)."""
    import gradio as gr

    settings = assistant.settings
    threshold = assistant.steps.scorer.model.threshold
    config = config or (lambda: widget_config(settings))

    def correct(word: str) -> str:
        return assistant.steps.snapshots().vocabulary.correct(word)

    def passages_for(query: str) -> str:
        if not query or not query.strip():
            return ""
        return passages_html(query, scored_passages(assistant, query), query_stems(query, correct), threshold)

    def decide(query: str):
        """The answer box (for staff: markers, every source), the caveat under it, and the text
        the copy button gives a patient, without and with the public sources."""
        if not query or not query.strip():
            return gr.update(value="", label="Answer"), "", "", ""
        answer = assistant.ask(query, audience=STAFF)
        if feedback is not None:
            record_question(feedback, answer, "desk")
        caveat = "" if answer.status == URGENT else answer.caveat
        for_patient = patient_answer(assistant, query, answer)
        now, public = config(), public_chunks(assistant, for_patient)
        contact = dict(clinic_phone=now["phone"], contact_url=now["contact_url"])
        return (gr.update(value=plain_reply(answer, caveat=False), label=f"Answer for “{query.strip()}”"), caveat,
                patient_copy(for_patient, public, **contact), patient_copy(for_patient, public, sources=True, **contact))

    def lookup(query: str) -> dict:
        """The answer (plain text with its caveat) and the ranked passages with their relevance label."""
        answer = assistant.ask(query, audience=STAFF)
        if feedback is not None:
            record_question(feedback, answer, "desk")
        return {"answer": plain_reply(answer), "status": answer.status, "passages": [
            {"rank": p.rank, "title": p.title, "section": p.section, "text": p.text,
             "relevance": relevance_label(p.probability, threshold)} for p in scored_passages(assistant, query)]}

    with gr.Blocks(title="Front desk lookup", analytics_enabled=False) as page:
        gr.Markdown("# Front desk lookup", elem_id="desk-title")
        status = gr.Markdown(status_line(assistant.status()), elem_id="desk-status")
        query = gr.Textbox(label="Search the clinic's documents", placeholder="e.g. redness after treatment",
                           elem_id="desk-query", autofocus=True, max_length=settings.max_question_chars)
        answer = gr.Textbox(label="Answer", lines=5, max_lines=14, interactive=False, elem_id="desk-answer")
        caveat = gr.Markdown(elem_id="desk-caveat")
        with gr.Row(elem_id="desk-copy-row"):
            gr.Button("Copy for a patient", size="sm", elem_id="desk-copy")  # copies in the browser (HEAD)
            gr.Checkbox(label="With sources (public documents only)", value=False, elem_id="desk-sources",
                        container=False, scale=0, min_width=280)
            # Markdown, not gr.HTML: that renders through eval, which the page's CSP refuses. The
            # passages are one HTML block of escaped text, so no Markdown is read into them.
            gr.Markdown('<span id="desk-copied" role="status"></span>')
        # What the copy button copies: the quotes without markers, the caveat, no staff-only title.
        patient = gr.Textbox(visible="hidden", show_label=False, elem_id="desk-patient")
        patient_sources = gr.Textbox(visible="hidden", show_label=False, elem_id="desk-patient-sources")
        passages = gr.Markdown(elem_id="desk-passages", latex_delimiters=[])
        decide_button = gr.Button("Answer now", visible="hidden", elem_id="desk-decide")

        query.change(passages_for, query, passages, trigger_mode="always_last", show_progress="hidden",
                     api_visibility="private")
        decided = [answer, caveat, patient, patient_sources]
        query.submit(decide, query, decided, api_visibility="private", trigger_mode="always_last")
        decide_button.click(decide, query, decided, api_visibility="private", show_progress="hidden",
                            trigger_mode="always_last")
        gr.api(lookup, api_name="lookup", concurrency_limit=settings.concurrency)
        page.load(lambda: status_line(assistant.status()), None, status, api_visibility="private")
    return page
