"""Callback requests e-mailed to the clinic (SMTP_HOST and the other SMTP_* settings).

Sent one at a time in a background thread, each step of the SMTP conversation bounded by
SMTP_TIMEOUT, so the patient's request never waits on the mail server and never fails with it: a
mail server that is down or slow is logged, the request stays in the console's list, and the list
shows that its e-mail failed.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import TYPE_CHECKING, Callable

from ..settings import Settings
from ..text import redact

if TYPE_CHECKING:
    from .contact import ContactRequest

log = logging.getLogger(__name__)
SUBJECT = "Callback request from the assistant"


class ClinicMailer:
    """Sends callback requests to SMTP_TO; ``enabled`` only when SMTP_HOST is set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: ThreadPoolExecutor | None = None  # made on the first e-mail, not at start
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    def message(self, contact: "ContactRequest", request_id: int, console_url: str) -> EmailMessage:
        """The e-mail for one request. Personal details stay in the body: the subject and headers
        carry none but a Reply-To with the patient's (checked) address, so the clinic can answer."""
        s = self.settings
        message = EmailMessage()
        message["Subject"] = f"{SUBJECT} (#{request_id})"
        message["From"] = s.smtp_from
        message["To"] = ", ".join(s.smtp_recipients)
        if contact.email:
            message["Reply-To"] = contact.email
        received = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        where = {"chat": "the chat page", "widget": "the website widget", "api": "the API"}.get(contact.channel,
                                                                                                contact.channel)
        # The question as the log keeps it: contact and identity details typed into it are replaced.
        lines = [f"A patient left a question through {where} that the assistant could not answer.", "",
                 "Question:", redact(contact.question[: s.max_question_chars]), "",
                 f"Name: {contact.name or '(not given)'}",
                 f"E-mail: {contact.email or '(not given)'}",
                 f"Phone: {contact.phone or '(not given)'}",
                 f"Received: {received}", "",
                 f"Mark it done in the console's callback list when you have replied: {console_url}",
                 f"(The request is kept for {s.feedback_retention_days} days.)"]
        message.set_content("\n".join(lines))
        return message

    def send(self, message: EmailMessage) -> None:
        """Send now (in the calling thread); raises what smtplib raises."""
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(message)

    def send_later(self, message: EmailMessage, done: Callable[[bool], object] = lambda sent: None) -> Future:
        """Send in the background; ``done(sent)`` is called after. Never raises to the caller."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp")
        return self._pool.submit(self._deliver, message, done)

    def _deliver(self, message: EmailMessage, done: Callable[[bool], object]) -> bool:
        try:
            self.send(message)
            sent = True
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            # The host and the error, never the message: it holds the patient's details.
            log.warning("%s could not be e-mailed via %s:%s (%s: %s); it is kept in the console's callback list",
                        message["Subject"], self.settings.smtp_host, self.settings.smtp_port,
                        exc.__class__.__name__, exc)
            sent = False
        try:
            done(sent)
        except Exception:  # noting the result must not kill the mail thread
            log.exception("could not note whether %s was e-mailed", message["Subject"])
        return sent
