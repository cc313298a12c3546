"""Callback requests: the "leave your question and how to reach you" form offered under every reply
that is not an answer (a refusal, the closest passages).

``GET /contact`` is a plain server-rendered form that works without script (the chat page links to
it with the question filled in); ``POST /contact`` sends it; ``POST /api/contact`` does the same
in JSON for the widget and programs. A request is checked (``check_contact``), limited per client
address (CONTACT_RATE_LIMIT), stored in the feedback store for FEEDBACK_RETENTION_DAYS, listed in
the console (/admin/callbacks) and, with SMTP settings, e-mailed to the clinic in the background
(mailer.py).

The form is public and carries no session. A cross-site post is refused on the browser's own word
(``Sec-Fetch-Site``) and by a signed token, bound to the client's address, that only this server
makes (``FormToken``). The JSON endpoint takes only ``application/json``, which another site's page
cannot send without the CORS preflight that ALLOWED_ORIGINS decides.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from ..errors import ConfigError
from ..settings import Settings

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent

# Longest values taken, each with room to spare: a name as a form needs it; an e-mail address as
# SMTP carries it (RFC 5321: a path of 256 octets, less the angle brackets); a phone number as
# E.164's 15 digits written with spaces, brackets, dashes and an extension.
NAME_CHARS, EMAIL_CHARS, PHONE_CHARS = 100, 254, 40
# A form left open longer than this is sent back to be checked and sent again (nothing is lost:
# the page shows what was typed, with a fresh token).
FORM_TOKEN_SECONDS = 24 * 3600
THANKS = "Thank you: the clinic has your question and will contact you."
CONSENT = "I agree that the clinic keeps my question and contact details to reply to me"
CHANNELS = ("chat", "widget", "api")


@dataclass(frozen=True)
class ContactRequest:
    """A checked callback request, as stored."""

    question: str
    name: str
    email: str  # normalised (email-validator), or ""
    phone: str  # in international format (phonenumbers), or ""
    channel: str  # chat (the /contact page), widget or api


class ContactRefused(ValueError):
    """What is wrong with a request: ``problems`` maps a field (or "contact") to a sentence for the patient."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def phone_region(settings: Settings, clinic_phone: str) -> str | None:
    """The region of a phone number written without its country code: CONTACT_PHONE_REGION, else
    the clinic's own number's region when it is written with "+", else None (a "+" is needed)."""
    import phonenumbers

    if settings.contact_phone_region:
        return settings.contact_phone_region.upper()
    if clinic_phone.strip().startswith("+"):
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(clinic_phone, None))
        except phonenumbers.NumberParseException:
            return None
        return region if region and region != "ZZ" else None
    return None


def check_contact(question: str, name: str, email: str, phone: str, consent: bool, channel: str,
                  max_question_chars: int, region: str | None) -> ContactRequest:
    """The request cleaned (an address normalised, a phone number in international format), or
    ContactRefused naming every problem at once."""
    problems: dict[str, str] = {}
    question, name, email, phone = (v.strip() for v in (question, name, email, phone))
    for key, value, label, limit in (("question", question, "Your question", max_question_chars),
                                     ("name", name, "Your name", NAME_CHARS),
                                     ("email", email, "The e-mail address", EMAIL_CHARS),
                                     ("phone", phone, "The phone number", PHONE_CHARS)):
        if len(value) > limit:
            problems[key] = f"{label} is {len(value)} characters long: keep it to {limit} at most."
        elif not _is_text(value, one_line=key != "question"):
            problems[key] = f"{label} holds characters that are not text: type it again."
    if "question" not in problems and not question:
        problems["question"] = "Write the question you would like the clinic to answer."
    if email and "email" not in problems:
        from email_validator import EmailNotValidError, validate_email

        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            problems["email"] = f"That is not an e-mail address the clinic can write to: {exc}"
    if phone and "phone" not in problems:
        phone, problem = _phone(phone, region)
        if problem:
            problems["phone"] = problem
    if not email and not phone and not {"email", "phone"} & problems.keys():
        problems["contact"] = "Give an e-mail address or a phone number (or both), so the clinic can reach you."
    if not consent:
        problems["consent"] = ("Tick the box to agree that the clinic keeps your question and contact details "
                               "to reply to you.")
    if problems:
        raise ContactRefused(problems)
    return ContactRequest(question, name, email, phone, channel)


def _is_text(value: str, one_line: bool) -> bool:
    try:
        value.encode("utf-8")  # a lone surrogate ("\ud800") is not text and cannot be stored
    except UnicodeEncodeError:
        return False
    allowed = set() if one_line else {"\n", "\r", "\t"}
    return not any(unicodedata.category(c).startswith("C") and c not in allowed for c in value)


def _phone(text: str, region: str | None) -> tuple[str, str]:
    """(the number in international format, "") or ("", why it is not a phone number)."""
    import phonenumbers

    if region is None:
        how = "with its country code, starting with +"
    else:  # the library's own example of a number there, e.g. "0121 234 5678" in GB
        example = phonenumbers.example_number(region)
        how = f"like {phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)}"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return "", f"That is not a phone number: write it {how}."
    if not phonenumbers.is_valid_number(number):
        return "", f"That phone number is not valid: check its digits, and write it {how}."
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL), ""


class ContactLimiter:
    """Stored requests per client address (CONTACT_RATE_LIMIT: a moving window, the `limits`
    package, in memory, as the front door and the sign-in limit count)."""

    def __init__(self, rate: str) -> None:
        from limits import parse
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        try:
            self.rate = parse(rate)
        except ValueError:
            raise ConfigError(f"CONTACT_RATE_LIMIT={rate!r} must read like '5/hour' or '10 per day'. Fix the "
                              "environment variable and start again.") from None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, address: str) -> bool:
        """Count one request; False when the address is over the limit (and nothing is counted)."""
        return self.limiter.hit(self.rate, "contact", address)

    def wait(self, address: str) -> int:
        """Seconds until the address may send again."""
        reset = self.limiter.get_window_stats(self.rate, "contact", address).reset_time
        return max(1, math.ceil(reset - time.time()))


class FormToken:
    """The /contact form's token: signed by this server (itsdangerous) and bound to the client's
    address, so only a form this server gave that client is accepted."""

    def __init__(self, secret: str) -> None:
        from itsdangerous import URLSafeTimedSerializer

        self.serializer = URLSafeTimedSerializer(secret, salt="contact-form")
        self.key = secret.encode()

    def _of(self, address: str) -> str:
        # The address hashed: the token sits in the page, and need not show it.
        return hashlib.blake2b(address.encode("utf-8", "replace"), key=self.key[:64], digest_size=12).hexdigest()

    def make(self, address: str) -> str:
        return self.serializer.dumps(self._of(address))

    def valid(self, token: str, address: str) -> bool:
        from itsdangerous import BadSignature

        try:
            return self.serializer.loads(token, max_age=FORM_TOKEN_SECONDS) == self._of(address)
        except BadSignature:  # also an expired one (SignatureExpired is a BadSignature)
            return False


class ContactBody(BaseModel):
    """POST /api/contact's body. Lengths and formats are checked by check_contact, so a refusal
    reads the same from the API and the page."""

    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    name: StrictStr = ""
    email: StrictStr = ""
    phone: StrictStr = ""
    consent: StrictBool = False
    channel: Literal["api", "widget"] = "api"


@dataclass
class Outcome:
    """What became of a request: 201 stored; 400 refused (``problems``); 429 over the limit; 503 not stored."""

    status: int
    error: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    retry_after: int = 0


def install_contact(app, feedback, settings: Settings) -> None:
    """Add /contact and /api/contact to the FastAPI app (before the Gradio page claims /)."""
    from fastapi.templating import Jinja2Templates

    from .console.auth import session_secret
    from .mailer import ClinicMailer
    from .pages.render import tel_href, web_link

    limiter = ContactLimiter(settings.contact_rate_limit)
    mailer = ClinicMailer(settings)
    tokens = FormToken(session_secret(settings.data_dir))
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    def clinic() -> dict:
        # Read per request: the console layers its saved phone and link over the environment's.
        return app.state.widget_config()

    def accept(request: Request, values: dict, channel: str) -> Outcome:
        """Check, limit, store and (in the background) e-mail one request."""
        try:
            contact = check_contact(values["question"], values["name"], values["email"], values["phone"],
                                    values["consent"], channel, settings.max_question_chars,
                                    phone_region(settings, clinic()["phone"]))
        except ContactRefused as refused:
            return Outcome(400, " ".join(refused.problems.values()), refused.problems)
        address = request.client.host if request.client else "unknown"
        if not limiter.hit(address):
            wait = limiter.wait(address)
            minutes = max(1, round(wait / 60))
            return Outcome(429, f"Too many requests from this connection: try again in about {minutes} "
                                f"minute{'s' if minutes != 1 else ''}, or call the clinic.", retry_after=wait)
        request_id = feedback.record_contact(contact)
        if request_id is None:
            return Outcome(503, "Your request could not be saved just now: please call the clinic, or try again "
                                "in a few minutes.")
        if mailer.enabled:
            console = str(request.base_url).rstrip("/") + "/admin/callbacks"
            mailer.send_later(mailer.message(contact, request_id, console),
                              done=lambda sent: feedback.contact_mailed(request_id, sent))
        return Outcome(201)

    # --- JSON, for the widget and programs ---

    @app.post("/api/contact", status_code=201, summary="Leave a question and a way to be reached (a callback request)",
              response_description='{"stored": true, "message"}. Refused requests get {"error", "problems": '
              '{field: sentence}} with 400 (a missing or over-long field, no e-mail address or phone number, an '
              'address or number that is not one, no consent), 429 past CONTACT_RATE_LIMIT, 503 when it could '
              'not be stored; nothing is stored then.')
    def leave_contact(body: ContactBody, request: Request):
        outcome = accept(request, body.model_dump(), body.channel)
        if outcome.status == 201:
            return {"stored": True, "message": THANKS}
        headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else None
        return JSONResponse({"error": outcome.error, "problems": outcome.problems}, status_code=outcome.status,
                            headers=headers)

    # --- the page, for the chat page's link and anyone without script ---

    def page(request: Request, status: int = 200, **context):
        config = clinic()
        address = request.client.host if request.client else "unknown"
        context = {"title": "Leave your question for the clinic", "question": "", "name": "", "email": "",
                   "phone": "", "consent": False, "channel": "chat", "problems": {}, "error": "", "sent": False,
                   "token": tokens.make(address), "days": settings.feedback_retention_days, "consent_text": CONSENT,
                   "thanks": THANKS, "clinic_phone": config["phone"], "tel": tel_href(config["phone"]),
                   "contact_url": web_link(config["contact_url"]), "max_question": settings.max_question_chars,
                   "limits": {"name": NAME_CHARS, "email": EMAIL_CHARS, "phone": PHONE_CHARS}} | context
        response = templates.TemplateResponse(request, "contact.html", context, status_code=status)
        response.headers["cache-control"] = "no-store"
        return response

    @app.get("/contact", include_in_schema=False)
    def contact_form(request: Request, question: str = "", channel: str = "chat", sent: int = 0):
        return page(request, question=question[:settings.max_question_chars],
                    channel=channel if channel in CHANNELS else "chat", sent=bool(sent))

    @app.post("/contact", include_in_schema=False)
    async def send_contact_form(request: Request):
        form = await request.form()

        def text(key: str) -> str:
            value = form.get(key, "")
            return value if isinstance(value, str) else ""

        values = {k: text(k) for k in ("question", "name", "email", "phone")} | {"consent": text("consent") == "yes"}
        channel = text("channel") if text("channel") in CHANNELS else "chat"
        shown = values | {"channel": channel}
        address = request.client.host if request.client else "unknown"
        # A page of another site may not post here: browsers say where a request comes from, and
        # only a form this server gave this address carries a valid token.
        if request.headers.get("sec-fetch-site", "same-origin") != "same-origin" or not tokens.valid(
                text("token"), address):
            return page(request, 403, error="This form was open too long, or did not come from this site: check "
                                            "your details and send it again.", **shown)
        outcome = await _in_thread(accept, request, values, channel)
        if outcome.status == 201:
            return RedirectResponse(f"contact?sent=1&channel={channel}", status_code=303)
        response = page(request, outcome.status, error=outcome.error, problems=outcome.problems, **shown)
        if outcome.retry_after:
            response.headers["retry-after"] = str(outcome.retry_after)
        return response


async def _in_thread(function, *args):
    """Run blocking work (SQLite) off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)
