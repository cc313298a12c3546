"""The Gradio pages: the patient chat (chat.py, at /) and the front desk (desk.py, at /desk/)."""

from __future__ import annotations


def record_question(feedback, answer, channel: str) -> None:
    """An asked question, for the clinic's report of what could not be answered; ``channel``
    ("chat" or "desk") names the page that asked it."""
    feedback.record_question(answer.question, answer.status, channel=channel)


def add_scripts(app) -> None:
    """Serve each page's script at /pages/chat.js and /pages/desk.js (their HEAD loads it).

    From this server, as files: the front door's Content-Security-Policy admits scripts from
    'self', not inline ones or Gradio's js= (which it runs through the AsyncFunction constructor).
    """
    from fastapi.responses import Response

    from . import chat, desk

    for name, source in (("chat", chat.SCRIPT), ("desk", desk.SCRIPT)):
        app.add_api_route(f"/pages/{name}.js", lambda source=source: Response(source, media_type="text/javascript"),
                          include_in_schema=False)
