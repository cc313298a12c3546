"""The patient chat page (mounted at /): the conversation alone, a greeting and starter questions."""

from __future__ import annotations

import hashlib
import threading

from cachetools import LRUCache

from ...answer.answering import INVALID, Answer
from ..api import MAX_HISTORY_TURNS
from . import record_question
from .render import as_text, plain_reply, question_html, reply_html

# One screen, phone or desktop: the page itself never scrolls; the conversation is the one
# scroll area, between the title and the input. Gradio's fill_height stretches the chat but
# lets it grow past the screen, so the column is held to the viewport's height here.
CSS = """
.gradio-container { max-width: 820px !important; margin: 0 auto !important; height: 100dvh !important;
  min-height: 0 !important; overflow: hidden; padding-top: 0.5rem !important; padding-bottom: 0.5rem !important; }
main.contain, main.contain > .column { min-height: 0 !important; }
#chatbot { flex: 1 1 0 !important; min-height: 0 !important; }
#chat-title h1 { font-size: 1.2rem; margin: 0; }
#chat-title p { margin: 0.1rem 0 0; font-size: 0.88rem; }
#chat-starters { flex-wrap: wrap; gap: 0.4rem; }
#chat-starters button { flex: 1 1 auto; min-width: 0; min-height: 44px; font-weight: 500; }
#chat-input textarea { font-size: 16px; }
#chatbot .reply p, #chatbot .question { margin: 0 0 0.4rem; }
#chatbot .marker { font-size: 0.75em; font-weight: 600; padding: 0 0.1em; line-height: 0; }
#chatbot .sources summary { cursor: pointer; font-weight: 600; font-size: 0.9rem; min-height: 24px; }
#chatbot .sources ol { margin: 0.3rem 0 0.4rem 1.2rem; font-size: 0.9rem; }
#chatbot .source-title { font-weight: 600; }
#chatbot .source-quote { display: block; font-style: italic; }
#chatbot .caveat { font-size: 0.85rem; color: #374151; margin: 0.5rem 0 0; }
.dark #chatbot .caveat { color: #e5e7eb; }
#chatbot .reply-urgent { border-left: 4px solid #b42318; padding-left: 0.6rem; }
#chatbot .urgent-label { color: #b42318; font-weight: 700; }
.dark #chatbot .urgent-label { color: #fda29b; }
#chatbot .reply-urgent .answer { font-weight: 600; }
#chatbot a.call { display: inline-block; padding: 0.6rem 0.9rem; min-height: 44px; box-sizing: border-box;
  border-radius: 6px; background: #b42318; color: #fff !important; font-weight: 700; text-decoration: none; }
#chatbot .contact a { display: inline-block; min-height: 24px; margin-right: 1rem; padding: 0;
  background: none; color: inherit !important; font-weight: 600; text-decoration: underline; }
#chatbot .reply-closest { border-left: 4px solid #4b5563; padding-left: 0.6rem; }
.dark #chatbot .reply-closest { border-left-color: #9ca3af; }
#chatbot .closest-label { color: #374151; font-weight: 700; font-size: 0.85rem; }
.dark #chatbot .closest-label { color: #e5e7eb; }
#chatbot .closest-quotes { margin: 0 0 0.4rem; padding: 0 0 0 0.6rem; border-left: 2px solid #6b7280;
  color: inherit; font-style: italic; }
#chatbot .sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
"""

# Gradio names each message by its raw content, so a screen reader would read a reply's HTML
# source ("bot's message: <div class=..."). Without that name the message is read as shown.
SCRIPT = """(() => {
  const unname = () => document.querySelectorAll('#chatbot [data-testid="bot"][aria-label], '
    + '#chatbot [data-testid="user"][aria-label]').forEach(e => e.removeAttribute('aria-label'));
  new MutationObserver(unname).observe(document.documentElement,
    {subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label']});
  unname();
})();
"""
HEAD = '<script src="pages/chat.js"></script>'  # relative: the page is at the app's root

class ChatTurns:
    """What the chat page does on each event; ``assistant`` is a service.Assistant, ``feedback``
    a FeedbackStore (votes and asked questions are recorded when given)."""

    def __init__(self, assistant, feedback=None) -> None:
        self.assistant, self.feedback = assistant, feedback
        # Offered under urgent replies (the phone) and under replies that are not an answer (both).
        self.phone, self.contact_url = assistant.settings.clinic_phone, assistant.settings.clinic_contact_url
        # Shown reply -> its answer, so a vote can name it (the most recent ones).
        self.replies: LRUCache[str, Answer] = LRUCache(maxsize=5000)
        self._lock = threading.Lock()

    def answer_for(self, message: str, history: list) -> Answer:
        answer = self.assistant.ask(message, history)
        if self.feedback is not None:
            record_question(self.feedback, answer, "chat")
        with self._lock:
            self.replies[self.html(answer)] = answer
        return answer

    def html(self, answer: Answer) -> str:
        return reply_html(answer, self.phone, self.contact_url)

    def submit(self, message: str, messages: list, asked: list):
        """Chat turn: the question shows at once (escaped, as text), then the whole reply in
        one update, so a screen reader announces it once.

        The conversation lives in server-side state (``messages``), not in what the browser
        sends back, so a long chat never grows the request past the body limit; ``asked`` keeps
        only valid questions, and only the last MAX_HISTORY_TURNS of them, so a turn's work is
        bounded whatever came before."""
        if not message or not message.strip():
            yield message, messages, messages, asked
            return
        messages = list(messages or []) + [{"role": "user", "content": question_html(message)}]
        yield "", messages, messages, asked
        answer = self.answer_for(message, asked)
        messages = messages + [{"role": "assistant", "content": self.html(answer)}]
        if answer.status != INVALID:
            asked = (list(asked) + [message])[-MAX_HISTORY_TURNS:]
        yield "", messages, messages, asked

    def starter(self, question: str):
        """A starter button's turn: it sends its question."""
        def turn(messages: list, asked: list):
            yield from self.submit(question, messages, asked)
        return turn

    def retry(self, messages: list, asked: list):
        kept = list(messages or [])
        while kept and kept[-1]["role"] == "assistant":
            kept.pop()
        # Drop the last question and its reply, then ask it again (it is the last of ``asked``
        # unless it was invalid, and then it is not in ``asked`` at all).
        if not kept or not asked or question_html(asked[-1]) != kept[-1]["content"]:
            yield "", messages, messages, asked
            return
        yield from self.submit(asked[-1], kept[:-1], list(asked)[:-1])

    def chat(self, message: str) -> str:
        """One question, the reply as plain text with its sources, the clinic's contact details when it
        is not an answer, and the caveat (for programs; no history)."""
        return plain_reply(self.answer_for(message, []), clinic_phone=self.phone, contact_url=self.contact_url)

    def vote(self, data, request) -> None:
        """A thumbs up or down on a reply (Gradio's LikeData and Request)."""
        value = data.value
        if isinstance(value, list):
            value = " ".join(v.get("value", "") if isinstance(v, dict) else str(v) for v in value)
        if isinstance(value, dict):
            value = value.get("value", "")
        with self._lock:
            answer = self.replies.get(value) if isinstance(value, str) else None
        if self.feedback is None or answer is None:
            return
        from ..feedback import Vote

        # One vote per visitor (the browser session) and reply: changing it replaces it. The
        # reply's text is in the id, so a retried reply at the same place is a new answer.
        reply_id = hashlib.blake2b(value.encode("utf-8", "replace"), digest_size=8).hexdigest()
        self.feedback.record_vote(Vote(answer.question, answer.status, tuple(c.chunk_id for c in answer.citations),
                                       "up" if data.liked else "down", answer_id=f"chat:{data.index}:{reply_id}",
                                       voter=getattr(request, "session_hash", "") or "", channel="chat"))


def build_chat_page(assistant, feedback=None):
    """The patient chat page (see ChatTurns for what its events do)."""
    import gradio as gr

    settings = assistant.settings
    turns = ChatTurns(assistant, feedback)

    def on_vote(data: gr.LikeData, request: gr.Request):
        turns.vote(data, request)

    # Gradio injects event data by the annotation's class; postponed annotations are strings here.
    on_vote.__annotations__.update(data=gr.LikeData, request=gr.Request)

    title = f"{settings.topic[:1].upper()}{settings.topic[1:]} questions"
    with gr.Blocks(title=title, analytics_enabled=False, fill_height=True) as page:
        gr.Markdown(f"# {as_text(title)}\nAnswers come only from the clinic's documents, with their sources.",
                    elem_id="chat-title")
        # No "share" button: it would post conversations to Hugging Face. No LaTeX: "$$" in a
        # document is text. Sources and caveat are part of each reply's HTML (escaped text).
        chatbot = gr.Chatbot(label="Conversation", show_label=False, sanitize_html=True, scale=1, height="100%",
                             buttons=["copy"], elem_id="chatbot", latex_delimiters=[],
                             placeholder=as_text(settings.widget_greeting))
        shown = gr.State([])  # the conversation as shown, kept on the server (see submit)
        asked = gr.State([])  # the raw valid questions so far, for follow-ups
        # The widget's greeting and starter questions (WIDGET_GREETING, WIDGET_STARTERS): one
        # configuration for both places patients ask. The starters are plain buttons (Gradio's
        # chatbot examples sit in a role="list" without list items, which axe-core rejects); they
        # send on click and go once the conversation starts.
        with gr.Row(elem_id="chat-starters") as starters:
            starter_buttons = [gr.Button(q, size="sm", variant="secondary", elem_classes="starter")
                               for q in settings.starters]
        message = gr.Textbox(show_label=False, placeholder="Type your question…", elem_id="chat-input",
                             submit_btn=True, max_length=settings.max_question_chars, lines=1, max_lines=4)
        limit = settings.concurrency
        turn = dict(concurrency_limit=limit, api_visibility="private", show_progress="minimal")
        outputs = [message, chatbot, shown, asked]
        message.submit(turns.submit, [message, shown, asked], outputs, **turn)
        for button, question in zip(starter_buttons, settings.starters):
            button.click(turns.starter(question), [shown, asked], outputs, **turn)
        shown.change(lambda messages: gr.Row(visible=not messages), shown, starters, api_visibility="private",
                     show_progress="hidden")
        chatbot.retry(turns.retry, [shown, asked], outputs, **turn)
        chatbot.clear(lambda: ([], []), None, [shown, asked], api_visibility="private")  # its own trash button
        chatbot.like(on_vote, api_visibility="private")
        gr.api(turns.chat, api_name="chat", concurrency_limit=limit)
    return page

