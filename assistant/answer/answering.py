"""Answers: the reply dataclasses, the fixed texts, and the extractive composer.

The extractive composer writes no words of its own: an answer is a few corpus units, each
quoted with its context and followed by the marker of the citation that quotes it. Any other
composer (a language model) takes the same ``Evidence`` and must return the same ``Answer``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Protocol

from .retrieval import UnitRecord
from ..ingest.cleaning import CONTEXT_JOINER
from ..text import jaccard

ANSWERED, CLOSEST, OUT_OF_SCOPE, URGENT, INVALID = "answered", "closest", "out_of_scope", "urgent", "invalid"
STATUSES = (ANSWERED, CLOSEST, OUT_OF_SCOPE, URGENT, INVALID)
# Replies that are not an answer, after which a visitor is offered a way to a person.
NOT_ANSWERED = (CLOSEST, OUT_OF_SCOPE)

CAVEAT = (
    "Microneedling results can last a long time, but they are not truly permanent: skin keeps "
    "aging, so maintenance treatments are usually needed to keep them."
)
REFUSAL = (
    "I'm sorry, I can't answer that from our information. Please contact our front desk; "
    "they will be glad to help."
)
# The "closest passages" grade: no passage answers the question for sure, but some come near.
# The reply says so plainly, then quotes them; no word of the quotes is ours.
CLOSEST_LEAD = "I couldn't find a direct answer to that in our information. This is what our documents say about it:"
CLOSEST_TAIL = "For a direct answer, please contact our front desk."
CLOSEST_MAX_UNITS = 2
CRISIS_LEAD = ("I'm really sorry you're feeling this way. You don't have to face it alone, and "
               "there are people who want to help right now:")


def crisis_message(contact: str) -> str:
    """The reply to crisis language: a crisis line (``contact``, e.g. "call or text 988 (...)"),
    the emergency number for immediate danger, and a person to talk to."""
    line = f" please {contact}, or" if contact else " please contact a crisis line, or"
    return (f"{CRISIS_LEAD}{line} call your local emergency number if you might act on these thoughts. "
            "If you can, tell someone you trust how you are feeling.")


URGENT_MESSAGE = (
    "This could be a complication that needs attention now. Please contact the clinic right "
    "away, or call your local emergency number if you have trouble breathing, swelling of the "
    "lips or throat, bleeding that will not stop, a fever, or spreading redness or pus."
)


@dataclass(frozen=True)
class Citation:
    n: int
    title: str
    section: str
    quote: str
    source: str
    score: float
    chunk_id: str = ""
    context: str = ""  # the lead-in or heading the quote starts with, "" when it has none

    @property
    def text(self) -> str:
        """The quote without its context: the passage's own words."""
        lead = f"{self.context}{CONTEXT_JOINER}"
        return self.quote[len(lead):] if self.context and self.quote.startswith(lead) else self.quote

    def to_json(self) -> dict:
        return {"n": self.n, "title": self.title, "section": self.section, "quote": self.quote,
                "context": self.context, "source": self.source, "score": self.score}


@dataclass(frozen=True)
class Alert:
    """A safety message shown before an answer: a guard's learned reading found crisis language
    ("crisis") or a warning sign ("urgent") in a question the documents also answer. The reading
    can be wrong, so the patient gets the message first and the answer after it, not instead."""

    kind: str
    message: str

    def to_json(self) -> dict:
        return {"kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class Answer:
    question: str
    status: str
    answer: str
    citations: tuple[Citation, ...] = ()
    caveat: str = CAVEAT
    latency_ms: float = 0.0
    answerer: str = "extractive"  # extractive | llm | extractive-fallback | guard | crisis
    alert: Alert | None = None  # only on an answer (ANSWERED): the safety message to show first

    def to_json(self) -> dict:
        return {"question": self.question, "status": self.status, "answer": self.answer,
                "citations": [c.to_json() for c in self.citations], "caveat": self.caveat,
                "latency_ms": round(self.latency_ms, 1), "answerer": self.answerer,
                "alert": self.alert.to_json() if self.alert is not None else None}

    @property
    def crisis(self) -> bool:
        """The reply carries the crisis message: alone (an urgent reply) or before an answer."""
        return self.answerer == "crisis" or (self.alert is not None and self.alert.kind == "crisis")

    @property
    def safety_first(self) -> bool:
        """The reply is, or starts with, a safety or crisis message."""
        return self.status == URGENT or self.alert is not None


@dataclass(frozen=True)
class ScoredUnit:
    unit: UnitRecord
    probability: float  # that the unit answers the question (the relevance model's calibrated score)
    similarity: float  # cosine between the question and the unit, reported with the citation


@dataclass
class Evidence:
    """What retrieval found for one question, handed to a composer: candidate units, best first."""

    question: str
    units: list[ScoredUnit] = field(default_factory=list)
    chunks: dict[str, dict] = field(default_factory=dict)  # chunk id -> title, section, source of each unit
    threshold: float = 0.5  # the relevance model's: a unit below it does not answer
    closest_threshold: float = 1.0  # ... and below this one it is not even worth showing

    @property
    def best(self) -> float:
        return self.units[0].probability if self.units else 0.0

    @property
    def answerable(self) -> bool:
        return self.best >= self.threshold

    @property
    def grade(self) -> str:
        """ANSWERED, CLOSEST or OUT_OF_SCOPE: the one place the score is read against its thresholds."""
        if self.answerable:
            return ANSWERED
        return CLOSEST if self.units and self.best >= self.closest_threshold else OUT_OF_SCOPE


class Composer(Protocol):
    def __call__(self, evidence: Evidence) -> Answer: ...


class ExtractiveComposer:
    """Quotes the units that answer, best first, each with its context and citation marker.

    The first quote is the unit the relevance model rates highest: the one that answers the
    question's ask. A further unit must answer too (above the threshold), come close to the
    first (within ``margin`` of its probability) and say something new.
    """

    def __init__(self, max_units: int = 3, margin: float = 0.15, redundancy: float = 0.88) -> None:
        self.max_units = max_units
        self.margin = margin
        self.redundancy = redundancy  # cosine above which two units say the same thing

    def __call__(self, evidence: Evidence) -> Answer:
        grade = evidence.grade
        if grade == OUT_OF_SCOPE:
            return Answer(evidence.question, OUT_OF_SCOPE, REFUSAL)
        if grade == CLOSEST:
            return self.closest(evidence)
        return compose_answer(evidence, self._choose(evidence, max(evidence.threshold, evidence.best - self.margin),
                                                     self.max_units))

    def closest(self, evidence: Evidence) -> Answer:
        """The closest passages: at most CLOSEST_MAX_UNITS units of the band, each quoted with its
        marker between the fixed lead and tail, so the reply cannot be read as an answer."""
        chosen = self._choose(evidence, evidence.closest_threshold, CLOSEST_MAX_UNITS)
        quoted = compose_answer(evidence, chosen)
        return replace(quoted, status=CLOSEST, answer=f"{CLOSEST_LEAD} {quoted.answer} {CLOSEST_TAIL}")

    def _choose(self, evidence: Evidence, floor: float, limit: int) -> list[ScoredUnit]:
        chosen: list[ScoredUnit] = []
        for candidate in sorted(evidence.units, key=lambda u: -u.probability):
            if len(chosen) == limit or candidate.probability < floor:
                break
            if not any(self._redundant(candidate, c) for c in chosen):
                chosen.append(candidate)
        return chosen

    def _redundant(self, a: ScoredUnit, b: ScoredUnit) -> bool:
        qa, qb = a.unit.quote.lower(), b.unit.quote.lower()
        return (a.unit.text == b.unit.text or qa in qb or qb in qa
                or float(a.unit.vector @ b.unit.vector) >= self.redundancy or jaccard(a.unit.text, b.unit.text) >= 0.5)


def compose_answer(evidence: Evidence, chosen: list[ScoredUnit], answerer: str = "extractive") -> Answer:
    """An answer quoting each chosen unit with its marker, and the citations behind the markers.

    Units under the same lead-in or heading are quoted one after the other (in the order their
    first one was chosen, so the best unit still leads), and the context is written once, before
    the first of them (see ``quoted_answer``)."""
    groups: dict[str, list[ScoredUnit]] = {}
    for item in chosen:
        # A unit without context stands alone: only a shared lead-in or heading brings units together.
        groups.setdefault(item.unit.context or f"\0{item.unit.id}", []).append(item)
    ordered = [item for group in groups.values() for item in group]
    citations = tuple(citation(n, item, evidence.chunks[item.unit.chunk_id]) for n, item in enumerate(ordered, start=1))
    return Answer(evidence.question, ANSWERED, quoted_answer(citations), citations, answerer=answerer)


def quoted_answer(citations: Iterable[Citation]) -> str:
    """The answer made of the citations' quotes and nothing else: each quote followed by its
    marker, except that a quote under the same context as the quote just before it is written
    without that context, which was shown once already ("Does it hurt? … A [1] B [2]")."""
    parts, shown = [], ""
    for c in citations:
        parts.append(f"{c.text if c.context and c.context == shown else c.quote} {marker(c.n)}")
        shown = c.context
    return " ".join(parts)


@dataclass(frozen=True)
class QuoteGroup:
    """Quotes of an answer under one context, as a page shows them: the context once, above."""

    context: str  # "" when the quotes have none, or the answer is in other words (a language model's)
    quotes: tuple[tuple[str, tuple[int, ...]], ...]  # each quote's own words and the markers after it


_MARKER = re.compile(r"\[(\d+)\]")


def quote_groups(text: str, citations: Iterable[Citation]) -> list[QuoteGroup]:
    """The answer ``text`` read back into its quotes, grouped under their shared context: the
    inverse of ``quoted_answer`` for the pages. Text that is not a cited quote (a language
    model's sentences, words after the last marker) is kept as it is, under no context."""
    by_n = {c.n: c for c in citations}
    pieces: list[tuple[str, list[int]]] = []
    pos = 0
    for match in _MARKER.finditer(text):
        n = int(match.group(1))
        if n not in by_n:
            continue  # a bracketed number that names no citation is part of the text
        piece = text[pos:match.start()].strip()
        if piece or not pieces:
            pieces.append((piece, [n]))
        else:
            pieces[-1][1].append(n)  # "… [1] [2]": both markers after one sentence
        pos = match.end()
    if text[pos:].strip():
        pieces.append((text[pos:].strip(), []))
    groups: list[tuple[str, list[tuple[str, tuple[int, ...]]]]] = []
    for piece, markers in pieces:
        c = by_n.get(markers[0]) if markers else None
        last = groups[-1][0] if groups else None
        if c is not None and c.context and piece == c.quote:
            groups.append((c.context, [(c.text, tuple(markers))]))  # a context shown: it opens a group
        elif c is not None and c.context and piece == c.text and last == c.context:
            groups[-1][1].append((c.text, tuple(markers)))  # under the context shown just before
        elif last == "":
            groups[-1][1].append((piece, tuple(markers)))
        else:
            groups.append(("", [(piece, tuple(markers))]))
    return [QuoteGroup(context, tuple(quotes)) for context, quotes in groups]


def citation(n: int, item: ScoredUnit, meta: dict) -> Citation:
    return Citation(n, meta["title"], meta["section"], item.unit.quote, meta["source"],
                    round(item.probability, 3), item.unit.chunk_id, item.unit.context)


def marker(n: int) -> str:
    """The citation marker after a quote; the one format every reader of an answer parses."""
    return f"[{n}]"
