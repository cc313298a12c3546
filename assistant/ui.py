"""The Gradio chat page: answers with their markers, the cited passages and the caveat."""

from __future__ import annotations

import html
import re

from .answering import ANSWERED, URGENT, Answer

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


def build_ui(assistant):
    """The chat app; ``assistant`` is a service.Assistant."""
    import gradio as gr

    def respond(message: str, history: list) -> str:
        return format_reply(assistant.ask(message, history))

    status = assistant.status()
    description = (
        f"Answers come only from the clinic's documents, with their sources. "
        f"Index: {status['chunks']} passages from {status['files']} documents; "
        f"model {status['embedding_model']}; last ingest {status['ingested_at']}."
    )
    with gr.Blocks(title="Microneedling questions", analytics_enabled=False) as demo:
        gr.ChatInterface(
            respond,
            # No "share" button: it would post conversations to Hugging Face.
            chatbot=gr.Chatbot(label="Microneedling assistant", sanitize_html=True, height=520,
                               buttons=["copy", "copy_all"]),
            title="Microneedling questions",
            description=description,
            examples=EXAMPLES,
            cache_examples=False,
            concurrency_limit=4,
            api_name="chat",
        )
    return demo
