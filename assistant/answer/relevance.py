"""Does this passage answer this question? One calibrated score, and the one threshold on it.

No cross-encoder or question-answering model ships inside a package that installs here
(docs/relevance.md lists what was checked), so relevance is learned on top of the embedding
model already loaded. Four signals describe a question-unit pair:

- ``cosine``: the sentence vectors' cosine, what the passage is about as a whole;
- ``alignment``: each question word matched to its most similar word of the unit in context
  (as BERTScore and ColBERT do), averaged with each word weighted by how much it says: its
  rarity in English (wordfreq) times how well it tells the corpus's passages apart (a
  normalised IDF), so "how" and the clinic's topic word hardly count and "cost" does;
- ``worst``: the alignment of the two worst-covered informative question words, the soft form
  of "every word of the question must be answered" ("melasma" in a question about what
  microneedling helps with);
- ``lexical``: the weighted share of the question's word stems that the unit uses.

A linear model over them ranks a question's candidate units, and a logistic calibration of the
best unit's score gives the probability that the question is answered by it: one score, one
threshold. Both are fitted by ``python -m evals.calibrate`` on judged questions and stored in
``calibration.json``. Nothing here names a word of any document.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from cachetools import LRUCache

from ..embeddings import Embedder, WordVectors
from ..errors import ConfigError
from ..text import information, stem
from .guards import CALIBRATION_PATH, read_calibration, write_calibration

log = logging.getLogger(__name__)

SIGNALS = ("cosine", "alignment", "worst", "lexical")  # from the embedding model, for every candidate
LEARNED = "learned"  # the learned late-interaction model's logit (learned.py)
FEATURES = SIGNALS + (LEARNED,)
# A word of the question counts among the informative ones when its weight (information times
# specificity) reaches this: for a word no passage uses, when English uses it less often than
# Zipf 4.5 ("session" 4.7 and "skin" 5.0 are common, "numbing" 2.9 and "dough" 3.9 are not).
# The worst-covered of these is what a unit must still answer. Zipf 5.0 and 5.5 were measured
# too and did no better (docs/relevance.md).
INFORMATIVE = 7.0 - 4.5
# How much an earlier question counts in a follow-up, for its vector (chain.py) and its words
# here: enough to keep the subject ("acne scars"), little enough that the new ask ("how many
# sessions") leads. Set on the seed follow-ups (2026-11-22); 0.5 for both.
CONTEXT_WEIGHT = 0.5


@dataclass(frozen=True)
class RelevanceModel:
    """Logistic weights over some of FEATURES, and the probabilities at which a unit answers (or
    comes close enough to be shown)."""

    weights: tuple[float, ...]
    bias: float
    threshold: float  # at or above: the best units are quoted as the answer
    fitted_on: str = ""  # what the weights were fitted on, and what they reached there
    # Below ``threshold`` and at or above this: the closest passages are shown, said plainly not
    # to be a direct answer; below it, the refusal. Equal to ``threshold``: no such band.
    closest_threshold: float = -1.0
    features: tuple[str, ...] = SIGNALS  # the features the weights apply to, in order

    @property
    def learned(self) -> bool:
        return LEARNED in self.features

    def probability(self, features: np.ndarray) -> np.ndarray:
        """``features`` has one column per name of FEATURES (or of SIGNALS, for a model without
        the learned one); the model's own columns are taken from it."""
        columns = [FEATURES.index(name) for name in self.features]
        z = features[:, columns] @ np.asarray(self.weights, dtype=np.float32) + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def save(self, path: Path = CALIBRATION_PATH) -> None:
        write_calibration("relevance", asdict(self), path)

    @classmethod
    def load(cls, path: Path = CALIBRATION_PATH) -> "RelevanceModel":
        try:
            data = dict(read_calibration(path)["relevance"])
            model = cls(tuple(float(w) for w in data["weights"]), float(data["bias"]), float(data["threshold"]),
                        str(data.get("fitted_on", "")), float(data["closest_threshold"]),
                        tuple(str(f) for f in data["features"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"relevance model {path} cannot be read ({exc}): restore it from git or "
                              "run `python -m evals.calibrate --write`.") from None
        if (len(model.weights) != len(model.features) or not set(model.features) <= set(FEATURES)
                or not 0.0 < model.threshold < 1.0 or not 0.0 < model.closest_threshold <= model.threshold):
            raise ConfigError(f"relevance model {path} is malformed: run `python -m evals.calibrate --write`.")
        return model


@dataclass(frozen=True)
class QuestionTerms:
    """A question's words, their vectors in context, their weights and stems."""

    words: tuple[str, ...]
    vectors: np.ndarray
    weights: np.ndarray  # information of each word
    stems: tuple[str, ...]
    informative: np.ndarray  # indices of the words the worst-covered signal looks at


def question_terms(words: WordVectors, context: WordVectors | None = None,
                   specificity: Callable[[str], float] = lambda w: 1.0) -> QuestionTerms:
    """The terms of a question, each weighted by what it says: its rarity in English times how
    well it tells the corpus's passages apart. A follow-up's earlier question adds its words at
    CONTEXT_WEIGHT, so "what about swimming?" after a question on exercise is about swimming."""
    def weigh(found: WordVectors, factor: float) -> np.ndarray:
        return np.array([factor * information(w) * specificity(w) for w in found.words], dtype=np.float32)

    weights = weigh(words, 1.0)
    if context is not None and context.words:
        weights = np.concatenate([weights, weigh(context, CONTEXT_WEIGHT)])
        words = WordVectors(words.words + context.words, np.concatenate([words.vectors, context.vectors]))
    informative = np.flatnonzero(weights >= INFORMATIVE)
    if informative.size == 0 and weights.size:
        informative = np.array([int(np.argmax(weights))])
    return QuestionTerms(words.words, words.vectors, weights, tuple(stem(w) for w in words.words), informative)


class RelevanceScorer:
    """Features and probabilities for question-unit pairs; unit word vectors are cached by unit id
    (ids derive from content, so a cached entry never goes stale)."""

    def __init__(self, embedder: Embedder, model: RelevanceModel, cache_size: int = 50_000, learned=None) -> None:
        self.embedder, self.model = embedder, model
        self.learned = learned  # a LateInteractionModel (learned.py), when one fits the embedder
        if model.learned and learned is None:
            # Another embedding model than the learned one was trained on (or a test's fake): the
            # learned column stays 0, the other signals still rank, and the operator is told.
            log.warning("the relevance model uses the learned feature, but no learned model fits the embedding "
                        "model %r: answers use the four signals only; run `python -m evals.calibrate "
                        "--features cosine alignment worst lexical --write` for this model", embedder.name)
        # Per unit: its word vectors, their stems, and (with a learned model) the vectors projected.
        self._cache: LRUCache[str, tuple[WordVectors, frozenset[str], np.ndarray | None]] = LRUCache(maxsize=cache_size)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe on their own

    def question(self, text: str, context: str | None = None,
                 specificity: Callable[[str], float] = lambda w: 1.0) -> QuestionTerms:
        """The question's terms; ``context`` is the earlier question a follow-up points back to,
        ``specificity`` the corpus's word specificity (Snapshot.specificity)."""
        own = self.embedder.query_words(text)
        return question_terms(own, self.embedder.query_words(context) if context else None, specificity)

    def unit_words(self, ids: Sequence[str], texts: Sequence[str]
                   ) -> list[tuple[WordVectors, frozenset[str], np.ndarray | None]]:
        """Word vectors, stems and projected word vectors of each unit's text, computed once per unit."""
        with self._lock:
            found = {i: self._cache[i] for i in ids if i in self._cache}  # a read marks it recently used
        missing = [(i, t) for i, t in zip(ids, texts) if i not in found]
        if missing:
            # One model run for all the missing units, outside the lock.
            for (i, _), wv in zip(missing, self.embedder.embed_words([t for _, t in missing])):
                found[i] = (wv, frozenset(stem(w) for w in wv.words),
                            self.learned.project(wv.vectors) if self.learned is not None else None)
            with self._lock:
                for i, _ in missing:
                    self._cache[i] = found[i]
        return [found[i] for i in ids]

    def assess(self, question: QuestionTerms, question_vector: np.ndarray, asked: str, ids: Sequence[str],
               texts: Sequence[str], unit_vectors: np.ndarray) -> np.ndarray:
        """One row of FEATURES per unit. ``asked`` is the question as the learned model reads it (a
        follow-up joined to what it follows); its column is 0 when no learned model is loaded."""
        signals = self.signals(question, question_vector, ids, texts, unit_vectors)
        learned = np.zeros(len(ids), dtype=np.float32)
        if self.learned is not None and len(ids):
            words = self.embedder.query_words(asked)
            rarity = np.array([information(w) for w in words.words], dtype=np.float32)
            learned = self.learned.scores(words.vectors, rarity, [projected for _, _, projected in
                                                                  self.unit_words(ids, texts)])
        return np.column_stack([signals, learned]).astype(np.float32)

    def signals(self, question: QuestionTerms, question_vector: np.ndarray, ids: Sequence[str],
                texts: Sequence[str], unit_vectors: np.ndarray) -> np.ndarray:
        """One row of SIGNALS per unit."""
        out = np.zeros((len(ids), len(SIGNALS)), dtype=np.float32)
        if not len(ids):
            return out
        out[:, 0] = unit_vectors @ question_vector
        total = float(question.weights.sum())
        for row, (wv, stems, _) in enumerate(self.unit_words(ids, texts)):
            if not question.words or not wv.words:
                continue
            best = (question.vectors @ wv.vectors.T).max(axis=1)
            out[row, 1] = float(best @ question.weights) / total if total else float(best.mean())
            out[row, 2] = float(np.sort(best[question.informative])[:2].mean())
            shared = np.array([s in stems for s in question.stems], dtype=np.float32)
            out[row, 3] = float(shared @ question.weights) / total if total else 0.0
        return out

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return self.model.probability(features)

    def warm(self, ids: Sequence[str], texts: Sequence[str], batch: int = 256) -> None:
        """Compute the word vectors of these units now (the app does it for small corpora)."""
        for start in range(0, len(ids), batch):
            self.unit_words(ids[start:start + batch], texts[start:start + batch])


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Area under the ROC curve: the chance a positive outscores a negative (ties count half)."""
    if not positives or not negatives:
        return math.nan
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))
