"""The patient chat page (mounted at /): the conversation alone, a greeting and starter questions.

What it shows of the clinic (greeting, starter questions, phone, booking or contact link) is the
widget's configuration, read on each page load and reply, so the console's saved settings apply
without a restart, with environment variables winning as they do for the widget.
"""

from __future__ import annotations

import threading
from typing import Callable

from cachetools import LRUCache

from ...answer.answering import ANSWERED, INVALID, Answer
from ...settings import MAX_STARTERS
from ..api import MAX_HISTORY_TURNS
from ..widget_config import widget_config
from . import record_question
from .conversations import Conversations
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
/* An answer reads as one: a lead-in or heading its quotes share on a line of its own above them, a
   table row a cell a line; each source's title opens the document at the quoted passage. */
#chatbot .answer-lead { font-weight: 600; }
#chatbot .answer-row { padding-left: 0.6rem; border-left: 3px solid #9ca3af; }
#chatbot a.source-link { color: inherit !important; text-decoration: underline; }
#chatbot .caveat { font-size: 0.85rem; color: #374151; margin: 0.5rem 0 0; }
.dark #chatbot .caveat { color: #e5e7eb; }
#chatbot .reply-urgent, #chatbot .reply-alert { border-left: 4px solid #b42318; padding-left: 0.6rem; }
#chatbot .reply-alert { margin-bottom: 0.8rem; }
#chatbot .urgent-label { color: #b42318; font-weight: 700; }
.dark #chatbot .urgent-label { color: #fda29b; }
#chatbot .reply-urgent .answer, #chatbot .urgent-message { font-weight: 600; }
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
#chat-head { flex-wrap: nowrap; align-items: center; gap: 0.5rem; }
#chat-head > * { min-width: 0; }
#chat-new { flex: 0 0 auto; min-height: 44px; }
/* Votes are for answers: a reply that is not one (a refusal, the closest passages, an urgent or
   invalid message) has no thumbs. Gradio draws them for every reply, in the row after it. */
#chatbot .bot-row:not(:has(.reply-answered)) + .message-buttons button:is([aria-label='Like'], [aria-label='Dislike'])
  { display: none !important; }
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

  // The conversation survives a reload, as the widget's does: this tab keeps a random id in
  // sessionStorage (gone with the tab), and the server keeps the conversation under it. The id
  // goes into the hidden #chat-id box, which every turn sends, and #chat-restore asks for the
  // conversation once the page is there.
  const key = 'mn-chat:' + location.pathname;
  let id = '';
  try { id = sessionStorage.getItem(key) || ''; } catch (e) { /* storage blocked: no restore */ }
  if (!/^[0-9a-f]{32}$/.test(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    id = Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
    try { sessionStorage.setItem(key, id); } catch (e) { /* private mode: this page load only */ }
  }
  const restore = () => {
    const box = document.querySelector('#chat-id textarea, #chat-id input');
    const button = document.querySelector('#chat-restore');
    if (!box || !button) return false;
    box.value = id;
    box.dispatchEvent(new Event('input', {bubbles: true}));
    button.click();
    return true;
  };
  if (!restore()) {
    const watch = new MutationObserver(() => { if (restore()) watch.disconnect(); });
    watch.observe(document.documentElement, {subtree: true, childList: true});
  }
})();
"""
HEAD = '<script src="pages/chat.js"></script>'  # relative: the page is at the app's root

class ChatTurns:
    """What the chat page does on each event; ``assistant`` is a service.Assistant, ``feedback``
    a FeedbackStore (votes and asked questions are recorded when given), ``config`` returns the
    widget's configuration (widget_config's dict; by default the assistant's settings alone)."""

    def __init__(self, assistant, feedback=None, config: Callable[[], dict] | None = None,
                 conversations: Conversations | None = None) -> None:
        self.assistant, self.feedback = assistant, feedback
        self.config = config or (lambda: widget_config(assistant.settings))
        self.conversations = conversations or Conversations()
        # Shown reply -> its answer, so a vote can name it (the most recent ones).
        self.replies: LRUCache[str, Answer] = LRUCache(maxsize=5000)
        self._lock = threading.Lock()

    def contact(self) -> tuple[str, str]:
        """The clinic's phone (under urgent replies and those that are not an answer) and booking
        or contact link (under the latter), as configured now."""
        config = self.config()
        return config["phone"], config["contact_url"]

    def answer_for(self, message: str, history: list) -> tuple[Answer, str]:
        """The answer and its reply as shown (the text a vote names it by)."""
        answer = self.assistant.ask(message, history)
        if self.feedback is not None:
            record_question(self.feedback, answer, "chat")
        shown = reply_html(answer, *self.contact())
        with self._lock:
            self.replies[shown] = answer
        return answer, shown

    def submit(self, message: str, messages: list, asked: list, conversation: str = ""):
        """Chat turn: the question shows at once (escaped, as text), then the whole reply in
        one update, so a screen reader announces it once.

        The conversation lives in server-side state (``messages``), not in what the browser
        sends back, so a long chat never grows the request past the body limit; ``asked`` keeps
        only valid questions, and only the last MAX_HISTORY_TURNS of them, so a turn's work is
        bounded whatever came before. It is also kept under the tab's ``conversation`` id, for
        a reload (see conversations.py)."""
        if not message or not message.strip():
            yield message, messages, messages, asked
            return
        before = self.conversations.get(conversation)
        messages = list(messages or []) + [{"role": "user", "content": question_html(message)}]
        yield "", messages, messages, asked
        answer, shown = self.answer_for(message, asked)
        messages = messages + [{"role": "assistant", "content": shown}]
        if answer.status != INVALID:
            asked = (list(asked) + [message])[-MAX_HISTORY_TURNS:]
        self.conversations.put(conversation, messages, asked, expected=before)
        yield "", messages, messages, asked

    def retry(self, messages: list, asked: list, conversation: str = ""):
        kept = list(messages or [])
        while kept and kept[-1]["role"] == "assistant":
            kept.pop()
        # Drop the last question and its reply, then ask it again (it is the last of ``asked``
        # unless it was invalid, and then it is not in ``asked`` at all).
        if not kept or not asked or question_html(asked[-1]) != kept[-1]["content"]:
            yield "", messages, messages, asked
            return
        yield from self.submit(asked[-1], kept[:-1], list(asked)[:-1], conversation)

    def restore(self, conversation: str, messages: list, asked: list):
        """The conversation kept under the tab's id, after a reload (a page already in use keeps its own)."""
        kept = None if messages else self.conversations.get(conversation)
        if kept is None:
            return messages, messages, asked
        return list(kept.messages), list(kept.messages), list(kept.asked)

    def new_chat(self, conversation: str):
        """"New chat" (or the chat's trash icon): an empty conversation, here and for a reload."""
        self.conversations.clear(conversation)
        return "", [], [], []

    def chat(self, message: str) -> str:
        """One question, the reply as plain text with its sources, the clinic's contact details when it
        is not an answer, and the caveat (for programs; no history)."""
        phone, url = self.contact()
        return plain_reply(self.answer_for(message, [])[0], clinic_phone=phone, contact_url=url)

    def vote(self, data, request) -> None:
        """A thumbs up or down on a reply (Gradio's LikeData and Request)."""
        value = data.value
        if isinstance(value, list):
            value = " ".join(v.get("value", "") if isinstance(v, dict) else str(v) for v in value)
        if isinstance(value, dict):
            value = value.get("value", "")
        with self._lock:
            answer = self.replies.get(value) if isinstance(value, str) else None
        # Only an answer is voted on (the page shows no thumbs under anything else).
        if self.feedback is None or answer is None or answer.status != ANSWERED:
            return
        from ..feedback import Vote, answer_key

        # One vote per visitor (the client address, which a new session id does not change) and
        # answer, as on the API: changing it replaces it.
        chunk_ids = tuple(c.chunk_id for c in answer.citations)
        client = getattr(request, "client", None)
        self.feedback.record_vote(Vote(answer.question, answer.status, chunk_ids, "up" if data.liked else "down",
                                       answer_id=answer_key(answer.question, chunk_ids),
                                       voter=getattr(client, "host", "") or "", channel="chat",
                                       quotes=tuple(c.quote for c in answer.citations)))


def build_chat_page(assistant, feedback=None, config: Callable[[], dict] | None = None):
    """The patient chat page (see ChatTurns for what its events do); ``config`` returns the
    widget's configuration, read on each page load (the server passes the console's)."""
    import gradio as gr

    settings = assistant.settings
    turns = ChatTurns(assistant, feedback, config)

    def on_vote(data: gr.LikeData, request: gr.Request):
        turns.vote(data, request)

    # Gradio injects event data by the annotation's class; postponed annotations are strings here.
    on_vote.__annotations__.update(data=gr.LikeData, request=gr.Request)

    def greeting_and_starters(now: dict) -> list:
        """The greeting (the empty chat's placeholder) and a button for each starter question."""
        starters = list(now["starters"])[:MAX_STARTERS]
        return [gr.update(placeholder=as_text(now["greeting"]))] + [
            gr.update(value=starters[i], visible=True) if i < len(starters) else gr.update(visible=False)
            for i in range(MAX_STARTERS)]

    first = turns.config()
    title = f"{settings.topic[:1].upper()}{settings.topic[1:]} questions"
    with gr.Blocks(title=title, analytics_enabled=False, fill_height=True) as page:
        with gr.Row(elem_id="chat-head"):
            gr.Markdown(f"# {as_text(title)}\nAnswers come only from the clinic's documents, with their sources.",
                        elem_id="chat-title")
            new_chat = gr.Button("New chat", size="sm", variant="secondary", scale=0, min_width=100,
                                 elem_id="chat-new")
        # No "share" button: it would post conversations to Hugging Face. No LaTeX: "$$" in a
        # document is text. Sources and caveat are part of each reply's HTML (escaped text).
        chatbot = gr.Chatbot(label="Conversation", show_label=False, sanitize_html=True, scale=1, height="100%",
                             buttons=["copy"], elem_id="chatbot", latex_delimiters=[],
                             placeholder=as_text(first["greeting"]))
        shown = gr.State([])  # the conversation as shown, kept on the server (see submit)
        asked = gr.State([])  # the raw valid questions so far, for follow-ups
        # The tab's conversation id (chat.js fills it from sessionStorage) and the button it presses
        # to have the conversation back after a reload; both hidden.
        conversation = gr.Textbox(visible="hidden", show_label=False, elem_id="chat-id",
                                  max_length=64)
        restore = gr.Button("Restore the conversation", visible="hidden", elem_id="chat-restore")
        # The widget's greeting and starter questions (the console's, over WIDGET_GREETING and
        # WIDGET_STARTERS): one configuration for both places patients ask, read again on every
        # page load. The starters are plain buttons (Gradio's chatbot examples sit in a
        # role="list" without list items, which axe-core rejects), as many as the settings allow,
        # each shown when it has a question; a click sends its question, and they go once the
        # conversation starts.
        with gr.Row(elem_id="chat-starters") as starters:
            starter_buttons = [gr.Button(q, size="sm", variant="secondary", elem_classes="starter",
                                         visible=bool(q))
                               for q in (list(first["starters"]) + [""] * MAX_STARTERS)[:MAX_STARTERS]]
        message = gr.Textbox(show_label=False, placeholder="Type your question…", elem_id="chat-input",
                             submit_btn=True, max_length=settings.max_question_chars, lines=1, max_lines=4)
        limit = settings.concurrency
        turn = dict(concurrency_limit=limit, api_visibility="private", show_progress="minimal")
        outputs = [message, chatbot, shown, asked]
        running = [message.submit(turns.submit, [message, shown, asked, conversation], outputs, **turn)]
        for button in starter_buttons:
            running.append(button.click(turns.submit, [button, shown, asked, conversation], outputs, **turn))
        shown.change(lambda messages: gr.Row(visible=not messages), shown, starters, api_visibility="private",
                     show_progress="hidden")
        running.append(chatbot.retry(turns.retry, [shown, asked, conversation], outputs, **turn))
        restore.click(turns.restore, [conversation, shown, asked], [chatbot, shown, asked],
                      api_visibility="private", show_progress="hidden")
        # "New chat" and the chat's own trash icon both start afresh; a question still being
        # answered is cancelled, so its reply does not land in the new conversation.
        new_chat.click(turns.new_chat, conversation, outputs, cancels=running, api_visibility="private",
                       show_progress="hidden")
        chatbot.clear(turns.new_chat, conversation, outputs, cancels=running, api_visibility="private")
        chatbot.like(on_vote, api_visibility="private")
        page.load(lambda: greeting_and_starters(turns.config()), None, [chatbot, *starter_buttons],
                  api_visibility="private", show_progress="hidden")
        gr.api(turns.chat, api_name="chat", concurrency_limit=limit)
    return page
