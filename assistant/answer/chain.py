"""The question-answering path as an LCEL chain: guard, then read (each reading of the question
retrieved and its candidate units scored), then compose by the grade of the evidence."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from langchain_core.runnables import Runnable, RunnableBranch, RunnableLambda

from .answering import (ANSWERED, CLOSEST, INVALID, OUT_OF_SCOPE, REFUSAL, URGENT, URGENT_MESSAGE, Alert, Answer,
                        Composer, Evidence, ExtractiveComposer, ScoredUnit, crisis_message)
from ..embeddings import Embedder
from .guards import CrisisDetector, GuardReading, UrgentDetector, guard_reading, is_text, validate_question
from .relevance import CONTEXT_WEIGHT, RelevanceScorer
from .retrieval import HybridRetriever, Snapshot
from ..ingest.loading import PUBLIC
from ..text import strip_markup, words

# With no earlier turn, "it" in "how does it work?" can only mean the assistant's topic. English's
# closed class of pointing words, not a list grown from cases.
_POINTING_WORDS = {"that", "it", "this", "those", "these", "they", "them", "there", "its", "one"}


def history_questions(history: Sequence | None) -> list[str]:
    """Earlier user questions from any of the usual history shapes.

    Accepts plain strings (earlier questions), ``{"role": "user", "content": ...}`` messages
    (content as text or as a list of ``{"type": "text", "text": ...}`` parts, as Gradio sends
    it), and ``[question, answer]`` pairs. Anything else is ignored.
    """
    questions = []
    for turn in history or []:
        if isinstance(turn, str):
            questions.append(turn)
        elif isinstance(turn, dict) and turn.get("role") == "user":
            questions.append(_message_text(turn.get("content")))
        elif isinstance(turn, (list, tuple)) and turn and isinstance(turn[0], str):
            questions.append(turn[0])
    return [q for q in questions if q.strip() and is_text(q)]  # a broken earlier turn is left out


def _message_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


@dataclass(frozen=True)
class Query:
    text: str  # what retrieval searches for
    own: str  # the question itself, made self-standing where it can be
    context: str | None  # the earlier question a follow-up points back to




def readings(question: str, history: Sequence | None, topic: str) -> list[Query]:
    """The ways a question can be read: as asked, and after earlier turns also joined to the last
    earlier question ("how many sessions for that?" after one on acne scars). Which reading is
    meant is the relevance model's decision (Steps.read keeps the one it scores higher), not a
    rule on the question's length. A first question that points back ("how does it work?") can
    only mean the assistant's topic, which then plays the earlier question's part."""
    previous = [strip_markup(q) for q in history_questions(history)]
    if previous:
        return [Query(question, question, None), Query(f"{previous[-1]} {question}", question, previous[-1])]
    if _POINTING_WORDS & set(words(question)) and topic.lower() not in question.lower():
        return [Query(f"{topic}: {question}", question, topic)]
    return [Query(question, question, None)]


@dataclass(frozen=True)
class Turn:
    """One question on its way through the chain; each step returns a copy with its part filled in."""

    question: str
    history: tuple = ()
    audience: str = PUBLIC  # whom the answer is for: "public", or "staff" (the front desk)
    answer: Answer | None = None  # set by the guard when it decides on its own
    alert: GuardReading | None = None  # a learned guard reading: its message goes first (Steps.decide)
    query: str = ""  # what retrieval searches for
    own: str = ""  # the question itself, made self-standing where it can be
    context: str | None = None  # the earlier question a follow-up points back to
    passages: tuple = ()  # retrieved chunks (LangChain documents), best first
    evidence: Evidence | None = None  # the candidate units, scored
    features: np.ndarray | None = None  # the relevance model's features of evidence.units, in order

    @classmethod
    def start(cls, request: dict) -> "Turn":
        """The chain's input ``{"question", "history"?, "audience"?}`` as a turn."""
        return cls(request["question"], tuple(request.get("history") or ()), request.get("audience") or PUBLIC)


class Steps:
    """The chain's steps as plain methods on turns, so tools (calibration, evals, the desk) can run a part."""

    def __init__(self, retriever: HybridRetriever, snapshots: Callable[[], Snapshot], embedder: Embedder,
                 composer: Composer, scorer: RelevanceScorer, urgent: UrgentDetector, *, max_question_chars: int,
                 topic: str, candidate_units: int = 16, condenser=None,
                 closest: Callable[[Evidence], Answer] | None = None, crisis: CrisisDetector | None = None,
                 crisis_contact: str = "") -> None:
        self.retriever, self.snapshots, self.embedder, self.composer = retriever, snapshots, embedder, composer
        self.scorer, self.urgent = scorer, urgent
        self.max_question_chars = max_question_chars
        self.candidate_units = candidate_units
        self.condenser = condenser  # (question, earlier questions) -> standalone question, or None
        self.topic = topic
        self.closest = closest or ExtractiveComposer().closest
        self.crisis, self.crisis_message = crisis, crisis_message(crisis_contact)

    def guard(self, turn: Turn) -> Turn:
        question = turn.question
        problem = validate_question(question, self.max_question_chars)
        # Crisis language gets the crisis message, and an emergency the safety message, even in an
        # over-long message. Both are urgent replies; the crisis one says so in its answerer.
        if problem is None or problem.kind == "too_long":
            reading = guard_reading(self.crisis, self.urgent, question)
            if reading is not None and reading.learned and problem is None:
                # A learned reading is the less sure one (on held-out clinic questions it fired on
                # "can i do monthly payments..."): the question still goes to the documents, and
                # the message comes first (decide).
                return replace(turn, alert=reading)
            if reading is not None:
                return replace(turn, answer=self.urgent_reply(question, reading.kind))
        if problem is not None:
            # The reply echoes the question: as text that can be encoded (a lone surrogate
            # becomes "?"), so neither the JSON reply nor the feedback store chokes on it.
            text = question.encode("utf-8", "replace").decode("utf-8") if isinstance(question, str) else ""
            return replace(turn, answer=Answer(text, INVALID, problem.message, answerer="guard"))
        return turn

    def urgent_reply(self, question: str, kind: str) -> Answer:
        """The crisis message ("crisis") or the safety message ("urgent") alone, as the reply."""
        if kind == "crisis":
            return Answer(question, URGENT, self.crisis_message, answerer="crisis")
        return Answer(question, URGENT, URGENT_MESSAGE, answerer="guard")

    def contextualise(self, turn: Turn) -> list[Turn]:
        """The turn once per reading of its question (see ``readings``), spelling corrected."""
        question = strip_markup(turn.question)
        options = readings(question, turn.history, self.topic)
        if len(options) > 1 and self.condenser is not None:
            # A language model rewrites the follow-up as a standalone question; if it cannot,
            # the readings above stand.
            condensed = self.condenser(question, history_questions(turn.history))
            if condensed:
                options = [Query(condensed, condensed, None)]
        correct = self.snapshots().vocabulary.correct_text
        return [replace(turn, query=correct(q.text), own=correct(q.own), context=q.context) for q in options]

    def read(self, turn: Turn) -> Turn:
        """Every reading retrieved and scored; the one whose best unit the relevance model rates
        higher is kept (the first on a tie: the question as asked)."""
        best = None
        for reading in self.contextualise(turn):
            scored = self.gather(self.retrieve(reading))
            if best is None or scored.evidence.best > best.evidence.best:
                best = scored
        return best

    def retrieve(self, turn: Turn) -> Turn:
        return replace(turn, passages=tuple(self.retriever.invoke(turn.query, audience=turn.audience)))

    def gather(self, turn: Turn) -> Turn:
        """Score every candidate unit: how likely it is to answer the question."""
        snapshot = self.snapshots()
        passages = turn.passages
        vector = self._focus_vector(turn.own or turn.query, turn.context)
        # Candidates: every unit of the retrieved chunks, plus the units nearest to the
        # question from anywhere in the index.
        units = {u.id: u for u in snapshot.units_for([d.metadata["chunk_id"] for d in passages])}
        for unit in snapshot.nearest_units(vector, self.candidate_units, turn.audience):
            units.setdefault(unit.id, unit)
        units = [u for u in units.values() if can_answer(u.text)]
        evidence = Evidence(turn.question, threshold=self.scorer.model.threshold,
                            closest_threshold=self.scorer.model.closest_threshold)
        if not units:
            return replace(turn, evidence=evidence)
        features = self.scorer.assess(
            self.scorer.question(turn.own or turn.query, turn.context, snapshot.specificity),
            vector, turn.query or turn.own, [u.id for u in units],
            [snapshot.unit_text(u) for u in units], np.stack([u.vector for u in units]))
        probabilities = self.scorer.probabilities(features)
        order = np.argsort(-probabilities, kind="stable")
        evidence.units = [ScoredUnit(units[i], float(probabilities[i]), float(features[i, 0])) for i in order]
        evidence.chunks = {u.chunk_id: snapshot.meta[u.chunk_id] for u in units}
        return replace(turn, evidence=evidence, features=features[order])

    def _focus_vector(self, own: str, context: str | None) -> np.ndarray:
        vector = self.embedder.embed_query(own)
        if context:
            vector = vector + CONTEXT_WEIGHT * self.embedder.embed_query(context)
            norm = float(np.linalg.norm(vector))
            if norm > 0 and np.isfinite(norm):
                vector = vector / norm
        return vector

    def decide(self, turn: Turn) -> Answer:
        """By the grade of the evidence: refuse, show the closest passages, or compose an answer.
        After a learned guard reading, an answer gets its message first, and anything else is
        replaced by that message alone."""
        answer = self._by_grade(turn)
        if turn.alert is None:
            return answer
        if answer.status != ANSWERED:
            return self.urgent_reply(turn.question, turn.alert.kind)
        message = self.crisis_message if turn.alert.kind == "crisis" else URGENT_MESSAGE
        return replace(answer, alert=Alert(turn.alert.kind, message))

    def _by_grade(self, turn: Turn) -> Answer:
        grade = turn.evidence.grade if turn.evidence is not None else OUT_OF_SCOPE
        if grade == OUT_OF_SCOPE:
            return Answer(turn.question, OUT_OF_SCOPE, REFUSAL, answerer="guard")
        if grade == CLOSEST:
            return self.closest(turn.evidence)  # quotes only, whichever composer answers
        return self.composer(turn.evidence)


def can_answer(text: str) -> bool:
    """A unit that only announces what follows ("Here's how:") or asks a question ("Was this
    helpful?") is no answer, whatever it shares with the question."""
    stripped = text.rstrip(" |·-–—*")
    return len(words(stripped)) >= 2 and not stripped.endswith((":", "?"))


def build_chain(steps: Steps) -> Runnable:
    """Input ``{"question": str, "history": list, "audience": "public" | "staff"}`` (audience
    optional, public by default); output an ``Answer``."""
    # "read": each reading of the question (as asked; joined to the earlier one) retrieved and
    # scored, the better kept (Steps.read).
    answer_path = (
        RunnableLambda(steps.read).with_config(run_name="read")
        | RunnableLambda(steps.decide).with_config(run_name="compose")
    )
    return (
        RunnableLambda(Turn.start).with_config(run_name="start")
        | RunnableLambda(steps.guard).with_config(run_name="guard")
        | RunnableBranch(
            (lambda t: t.answer is not None,
             RunnableLambda(lambda t: t.answer).with_config(run_name="guarded_reply")),
            answer_path,
        )
    ).with_config(run_name="assistant")
