"""The Gradio pages: the patient chat (chat.py, at /) and the front desk (desk.py, at /desk/)."""

from __future__ import annotations


def record_question(feedback, answer, channel: str) -> None:
    """An asked question, for the clinic's report of what could not be answered; ``channel``
    names the page that asked it."""
    feedback.record_question(answer.question, answer.status, channel=channel)
