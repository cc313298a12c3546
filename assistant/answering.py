"""Answers: the reply dataclasses, the fixed texts, and the extractive composer.

The extractive composer writes no words of its own: an answer is a few corpus sentences, each
followed by the marker of the citation that quotes it. Any other composer (a language model,
later) takes the same ``Evidence`` and must return the same ``Answer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
from langchain_core.documents import Document

from .retrieval import UnitRecord
from .text import content_words, jaccard, stem

ANSWERED, OUT_OF_SCOPE, URGENT, INVALID = "answered", "out_of_scope", "urgent", "invalid"
STATUSES = (ANSWERED, OUT_OF_SCOPE, URGENT, INVALID)

CAVEAT = (
    "Microneedling results can last a long time, but they are not truly permanent: skin keeps "
    "aging, so maintenance treatments are usually needed to keep them."
)
REFUSAL = (
    "I'm sorry, I can't answer that from our information. Please contact our front desk; "
    "they will be glad to help."
)
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

    def to_json(self) -> dict:
        return {"n": self.n, "title": self.title, "section": self.section, "quote": self.quote,
                "source": self.source, "score": self.score}


@dataclass(frozen=True)
class Answer:
    question: str
    status: str
    answer: str
    citations: tuple[Citation, ...] = ()
    caveat: str = CAVEAT
    latency_ms: float = 0.0
    answerer: str = "extractive"  # extractive | llm | extractive-fallback | guard

    def to_json(self) -> dict:
        return {"question": self.question, "status": self.status, "answer": self.answer,
                "citations": [c.to_json() for c in self.citations], "caveat": self.caveat,
                "latency_ms": round(self.latency_ms, 1), "answerer": self.answerer}


@dataclass(frozen=True)
class ScoredUnit:
    unit: UnitRecord
    similarity: float  # cosine between the question and the unit
    score: float  # similarity plus a bonus for sharing the question's words
    covers: frozenset[str] = frozenset()  # the question's focus words (stemmed) the unit uses


@dataclass
class Evidence:
    """What retrieval found for one question, handed to a composer."""

    question: str
    query: str
    passages: list[Document]
    units: list[ScoredUnit] = field(default_factory=list)  # best first
    chunks: dict[str, dict] = field(default_factory=dict)  # chunk id -> title, section, source of each unit

    @property
    def best_score(self) -> float:
        """The strongest evidence: closeness in meaning plus the question's own words."""
        return max((u.score for u in self.units), default=-1.0)


class Composer(Protocol):
    def __call__(self, evidence: Evidence) -> Answer: ...


# Weight of word overlap next to cosine similarity: enough to prefer the sentence that uses
# the question's own words ("sessions") when two are about equally close in meaning.
LEXICAL_WEIGHT = 0.15


def _stems(unit: UnitRecord) -> frozenset[str]:
    return frozenset(stem(w) for w in content_words(unit.text))


def score_units(query_vector: np.ndarray, units: list[UnitRecord], focus: list[str],
                stems_of: Callable[[UnitRecord], frozenset[str]] = _stems) -> list[ScoredUnit]:
    """Score every candidate sentence against the question; best first.

    A sentence ending in ':' only announces what follows ("Here's a breakdown:"); it is no
    evidence and never an answer, so it is left out.
    """
    units = [u for u in units if not u.text.rstrip().endswith(":")]
    if not units:
        return []
    matrix = np.stack([u.vector for u in units])
    sims = matrix @ query_vector
    focus_stems = {stem(w) for w in focus}
    scored = []
    for unit, sim in zip(units, sims):
        covers = focus_stems & stems_of(unit)
        overlap = len(covers) / len(focus_stems) if focus_stems else 0.0
        scored.append(ScoredUnit(unit, float(sim), float(sim) + LEXICAL_WEIGHT * overlap, covers))
    scored.sort(key=lambda s: -s.score)
    return scored


class ExtractiveComposer:
    """Picks the few best, non-redundant corpus sentences and cites each one."""

    def __init__(self, max_sentences: int = 3, min_similarity: float = 0.45, margin: float = 0.12,
                 redundancy: float = 0.88, strong_similarity: float = 0.78) -> None:
        self.max_sentences = max_sentences
        self.min_similarity = min_similarity
        self.margin = margin  # how far below the best sentence another may score and still be used
        self.redundancy = redundancy  # cosine above which two sentences say the same thing
        # A further sentence must use a word of the question the answer has not yet covered,
        # come from the same section as the best one (a list of factors, say), or be this close
        # to the question on its own; otherwise it is filler.
        self.strong_similarity = strong_similarity

    def __call__(self, evidence: Evidence) -> Answer:
        chosen: list[ScoredUnit] = []
        covered: set[str] = set()
        if evidence.units:
            best = evidence.units[0].score
            for candidate in evidence.units:
                if len(chosen) == self.max_sentences:
                    break
                if chosen and (candidate.score < best - self.margin or candidate.similarity < self.min_similarity):
                    continue
                if chosen and not self._adds_something(candidate, covered, chosen[0], evidence.chunks):
                    continue
                if any(self._redundant(candidate, c) for c in chosen):
                    continue
                chosen.append(candidate)
                covered |= candidate.covers
        if not chosen:
            return Answer(evidence.question, OUT_OF_SCOPE, REFUSAL)
        citations, parts = [], []
        for n, item in enumerate(chosen, start=1):
            m = evidence.chunks[item.unit.chunk_id]
            citations.append(Citation(n, m["title"], m["section"], item.unit.text, m["source"],
                                      round(item.similarity, 3), item.unit.chunk_id))
            parts.append(f"{item.unit.text} [{n}]")
        return Answer(evidence.question, ANSWERED, " ".join(parts), tuple(citations))

    def _adds_something(self, candidate: ScoredUnit, covered: set[str], first: ScoredUnit, chunks: dict) -> bool:
        if candidate.covers - covered or candidate.similarity >= self.strong_similarity:
            return True
        a, b = chunks[candidate.unit.chunk_id], chunks[first.unit.chunk_id]
        return a["source"] == b["source"] and a["section"].split(" › ")[0] == b["section"].split(" › ")[0]

    def _redundant(self, a: ScoredUnit, b: ScoredUnit) -> bool:
        return float(a.unit.vector @ b.unit.vector) >= self.redundancy or jaccard(a.unit.text, b.unit.text) >= 0.5
