"""The Gradio chat page: answers with their markers, the cited passages and the caveat."""

from __future__ import annotations

import html
import re

from ..answer.answering import ANSWERED, URGENT, Answer

EXAMPLES = [
    "How long do microneedling results last?",
    "Is microneedling permanent?",
    "Does microneedling help with acne scars?",
    "What happens right after a session?",
]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def as_text(value: str) -> str:
    """Corpus and user text shown as text: HTML and Markdown in it are escaped, never rendered."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(value, quote=False))


def format_reply(answer: Answer) -> str:
    """Markdown for the chat: the answer, its sources, then the caveat on every reply."""
    body = as_text(answer.answer)
    if answer.status == URGENT:
        body = f"**{body}**"
    parts = [body]
    if answer.status == ANSWERED and answer.citations:
        sources = [
            f"{c.n}. *{as_text(c.title)} — {as_text(c.section)}*: “{as_text(c.quote)}” ({as_text(c.source)})"
            for c in answer.citations
        ]
        parts.append("**Sources**\n\n" + "\n".join(sources))
    parts.append(f"_{as_text(answer.caveat)}_")
    return "\n\n".join(parts)


def plain_reply(answer: Answer) -> str:
    """The reply as plain text, to read out on the phone or paste into an e-mail."""
    parts = [answer.answer]
    if answer.status == ANSWERED and answer.citations:
        parts.append("Sources:\n" + "\n".join(f"[{c.n}] {c.title} — {c.section}: “{c.quote}”" for c in answer.citations))
    parts.append(answer.caveat)
    return "\n\n".join(parts)


def passages_markdown(docs) -> str:
    if not docs:
        return "_No passages found._"
    rows = ["| # | document — section | score | passage |", "| --- | --- | --- | --- |"]
    for d in docs:
        m = d.metadata
        text = as_text(d.page_content).replace("\n", " ")
        rows.append(f"| {m['rank']} | {as_text(m['title'])} — {as_text(m['section'])} | {m['score']:.4f} | {text} |")
    return "\n".join(rows)


def status_markdown(status: dict) -> str:
    if not status["ready"]:
        return "**Index not ready**: run `python ingest.py`."
    return (f"Index: **{status['chunks']}** passages ({status['sentences']} sentences) from "
            f"**{status['files']}** documents · model `{status['embedding_model']}` · "
            f"last ingest {status['ingested_at']}")


def build_ui(assistant, feedback=None):
    """The chat page, the front-desk lookup and the status line; ``assistant`` is a service.Assistant.

    ``feedback`` (a FeedbackStore) records votes and asked questions when given.
    """
    import gradio as gr

    replies: dict[str, Answer] = {}  # shown reply -> its answer, so a vote can name it

    def answer_for(message: str, history: list) -> Answer:
        answer = assistant.ask(message, history)
        if feedback is not None:
            feedback.record_question(answer.question, answer.status, channel="chat")
        if len(replies) > 5000:
            replies.clear()
        replies[format_reply(answer)] = answer
        return answer

    def submit(message: str, messages: list, asked: list):
        """Chat turn: the question is shown escaped (as text), the answer streams in."""
        if not message or not message.strip():
            yield message, messages, asked
            return
        answer = answer_for(message, asked)
        messages = list(messages or []) + [{"role": "user", "content": as_text(message)},
                                           {"role": "assistant", "content": ""}]
        shown = ""
        for piece in re.split(r"(?<=\])\s+", as_text(answer.answer)):
            shown = f"{shown} {piece}".strip()
            messages[-1] = {"role": "assistant", "content": shown}
            yield "", messages, asked
        messages[-1] = {"role": "assistant", "content": format_reply(answer)}
        yield "", messages, list(asked) + [message]

    def retry(messages: list, asked: list):
        if not asked:
            yield "", messages, asked
            return
        yield from submit(asked[-1], list(messages or [])[:-2], list(asked)[:-1])

    def chat(message: str) -> str:
        """One question, the whole formatted reply (for programs; no history)."""
        return format_reply(answer_for(message, []))

    def on_vote(data: gr.LikeData):
        value = data.value
        if isinstance(value, list):
            value = " ".join(v.get("value", "") if isinstance(v, dict) else str(v) for v in value)
        if isinstance(value, dict):
            value = value.get("value", "")
        answer = replies.get(value) if isinstance(value, str) else None
        if feedback is None or answer is None:
            return
        from .feedback import Vote

        feedback.record_vote(Vote(answer.question, answer.status, tuple(c.chunk_id for c in answer.citations),
                                  "up" if data.liked else "down", channel="chat"))

    # Gradio injects LikeData by the annotation's class; postponed annotations are strings here.
    on_vote.__annotations__["data"] = gr.LikeData

    def desk(query: str):
        if not query or not query.strip():
            return "", ""
        answer = assistant.ask(query)
        return plain_reply(answer), passages_markdown(assistant.lookup(query, 5))

    with gr.Blocks(title="Microneedling questions", analytics_enabled=False) as demo:
        gr.Markdown("# Microneedling questions\nAnswers come only from the clinic's documents, with their sources.")
        status = gr.Markdown(status_markdown(assistant.status()), elem_id="status")
        with gr.Tab("Chat", id="chat"):
            # No "share" button: it would post conversations to Hugging Face.
            chatbot = gr.Chatbot(label="Microneedling assistant", sanitize_html=True, height=460,
                                 buttons=["copy", "copy_all"], elem_id="chatbot")
            asked = gr.State([])  # the raw questions so far, for follow-ups
            message = gr.Textbox(show_label=False, placeholder="Ask about microneedling…", elem_id="chat-input",
                                 submit_btn=True, max_length=assistant.settings.max_question_chars)
            with gr.Row():
                retry_button = gr.Button("Retry", size="sm", elem_id="chat-retry")
                clear_button = gr.Button("Clear", size="sm", elem_id="chat-clear")
            gr.Examples(EXAMPLES, inputs=message, label="Try asking")
            limit = assistant.settings.concurrency
            message.submit(submit, [message, chatbot, asked], [message, chatbot, asked],
                           concurrency_limit=limit, api_visibility="private")
            retry_button.click(retry, [chatbot, asked], [message, chatbot, asked],
                               concurrency_limit=limit, api_visibility="private")
            clear_button.click(lambda: ([], []), None, [chatbot, asked], api_visibility="private")
            chatbot.clear(lambda: [], None, asked, api_visibility="private")  # its own trash button
            chatbot.like(on_vote, api_visibility="private")
            gr.api(chat, api_name="chat", concurrency_limit=limit)
        with gr.Tab("Front desk lookup", id="desk"):
            query = gr.Textbox(label="Search the clinic's documents", placeholder="e.g. redness after treatment",
                               elem_id="desk-query", autofocus=True)
            copy_ready = gr.Textbox(label="Answer to read out or paste (with its caveat)", lines=8,
                                    interactive=False, buttons=["copy"], elem_id="desk-answer")
            passages = gr.Markdown(elem_id="desk-passages")
            query.submit(desk, query, [copy_ready, passages], api_name="lookup")
            query.change(desk, query, [copy_ready, passages], trigger_mode="always_last",
                         show_progress="hidden", api_visibility="private")
        demo.load(lambda: status_markdown(assistant.status()), None, status, api_visibility="private")
    return demo
