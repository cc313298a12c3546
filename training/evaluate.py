"""Learners compared on equal footing: the same candidates, the same table.

Two kinds of judged data:

- the calibration candidates (``python -m evals.calibrate --dump``): for every judged question
  of each evaluation corpus, the candidate units the pipeline gathers, labelled by whether they
  hold the case's evidence. The reach table: is the evidence among them, is the best-scored unit
  right (in the top 2, top 3), and how well the best score tells answerable questions from
  unanswerable ones (AUC);
- the QA validation split (K-QA, CDC/FDA FAQs), never trained on: is the question's own answer
  ranked first among its candidates, and does the best score drop when that answer is taken
  away (the AUC of a question's best score with its answer against without it).

A scorer is ``(question, passages) -> scores``. A follow-up is scored both as asked and joined
to the question it follows, and the reading whose best unit scores higher is kept.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .data import Example, grouped

Scorer = Callable[[str, Sequence[str]], list[float]]


class PerText:
    """A batch function of texts (embeddings, word vectors) computed once per distinct text: the
    validation split asks every FAQ answer of a page again for each question of the page."""

    def __init__(self, batch: Callable[[list[str]], Sequence]) -> None:
        self.batch, self.seen = batch, {}

    def __call__(self, texts: Sequence[str]) -> list:
        missing = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if missing:
            self.seen.update(zip(missing, self.batch(missing)))
        return [self.seen[t] for t in texts]


@dataclass(frozen=True)
class Judged:
    """One judged question of an evaluation corpus with its candidate units."""

    corpus: str
    case: str
    answerable: bool
    question: str
    context: str | None
    texts: tuple[str, ...]
    labels: np.ndarray
    features: np.ndarray


def load_observations(path: Path) -> list[Judged]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        out.append(Judged(r["corpus"], r["case"], r["answerable"], r["question"], r["context"], tuple(r["texts"]),
                          np.array(r["labels"], dtype=bool),
                          np.array(r["features"], dtype=np.float32).reshape(len(r["texts"]), -1)[:, :4]))
    return out


def readings(question: str, context: str | None) -> list[str]:
    """The question as asked, and joined to what it follows (when it follows something)."""
    return [question] if not context else [question, f"{context} {question}"]


def score_judged(judged: Judged, score: Scorer) -> np.ndarray:
    """The scores of the better reading: the one whose best unit scores higher."""
    if not judged.texts:
        return np.zeros(0, dtype=np.float32)
    options = [np.asarray(score(q, judged.texts), dtype=np.float32) for q in readings(judged.question, judged.context)]
    return max(options, key=lambda s: float(s.max()))


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    if not len(positives) or not len(negatives):
        return math.nan
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def reach(judged: list[Judged], scores: list[np.ndarray]) -> dict:
    """The reach table's row for one corpus."""
    row = {"answerable": 0, "among": 0, "top1": 0, "top2": 0, "top3": 0}
    best_in, best_out = [], []
    for j, s in zip(judged, scores):
        best = float(s.max()) if len(s) else -math.inf
        if not j.answerable:
            best_out.append(best)
            continue
        best_in.append(best)
        row["answerable"] += 1
        row["among"] += bool(j.labels.any())
        order = np.argsort(-s, kind="stable") if len(s) else np.zeros(0, dtype=int)
        for k in (1, 2, 3):
            row[f"top{k}"] += bool(j.labels[order[:k]].any()) if len(order) else 0
    row["auc"] = round(auc(best_in, best_out), 3)
    return row


def validation(examples: list[Example], score: Scorer) -> dict[str, dict]:
    """Per validation source: answer ranked first, and the AUC of the best score with the
    answer among the candidates against without it."""
    out = {}
    by_source: dict[str, list[list[Example]]] = {}
    for group in grouped(examples).values():
        by_source.setdefault(group[0].source, []).append(group)
    for source, groups in sorted(by_source.items()):
        first, with_answer, without = 0, [], []
        for group in groups:
            s = np.asarray(score(group[0].question, [e.passage for e in group]), dtype=np.float32)
            labels = np.array([e.label for e in group], dtype=bool)
            first += bool(labels[int(np.argmax(s))])
            with_answer.append(float(s.max()))
            if (~labels).any():
                without.append(float(s[~labels].max()))
        out[source] = {"questions": len(groups), "first": first, "auc": round(auc(with_answer, without), 3)}
    return out


def table(rows: dict[str, dict[str, dict]]) -> str:
    """Markdown: one line per learner and corpus."""
    lines = ["| learner | corpus | evidence among candidates | best unit right | in top 2 | in top 3 | AUC of best score |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for learner, corpora in rows.items():
        for corpus, r in corpora.items():
            if "answerable" not in r and "questions" not in r:
                continue  # fitted weights, reported in the JSON
            if "answerable" in r:
                n = r["answerable"]
                lines.append(f"| {learner} | {corpus} | {r['among']}/{n} | {r['top1']} ({r['top1'] / n:.0%}) | "
                             f"{r['top2']} | {r['top3']} | {r['auc']:.3f} |")
            else:
                lines.append(f"| {learner} | {corpus} (validation) | {r['questions']} questions | "
                             f"{r['first']} ({r['first'] / r['questions']:.0%}) | | | {r['auc']:.3f} |")
    return "\n".join(lines)


def evaluate(score: Scorer, judged: list[Judged], valid: list[Example]) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    by_corpus: dict[str, list[Judged]] = {}
    for j in judged:
        by_corpus.setdefault(j.corpus, []).append(j)
    for corpus, items in by_corpus.items():
        rows[corpus] = reach(items, [score_judged(j, score) for j in items])
    rows |= validation(valid, score) if valid else {}
    return rows


def combined(judged: list[Judged], learned: Sequence[np.ndarray | None], fit_on: Sequence[str]) -> dict[str, dict]:
    """The learned score as a fifth feature beside the four signals (or, with None for every
    question, the four alone), in the calibrated model (the same listwise ranking and logistic
    calibration ``evals.calibrate`` fits), fitted on ``fit_on`` corpora, reported on every corpus."""
    from evals.calibrate import Observation, fit_calibration, fit_ranking

    observations = [Observation(j.corpus, j.case, j.answerable,
                                (np.column_stack([j.features, s]) if s is not None else j.features).astype(np.float64),
                                j.labels) for j, s in zip(judged, learned)]
    training = [o for o in observations if o.corpus in fit_on and len(o.features)]
    ranking = fit_ranking(training)
    slope, intercept = fit_calibration(training, ranking)
    scores = [1 / (1 + np.exp(-(slope * (o.features @ ranking) + intercept))) if len(o.features) else np.zeros(0)
              for o in observations]
    rows: dict[str, dict] = {}
    for corpus in dict.fromkeys(j.corpus for j in judged):
        items = [(j, s) for j, s in zip(judged, scores) if j.corpus == corpus]
        rows[corpus] = reach([j for j, _ in items], [s for _, s in items])
    rows["weights"] = {"ranking": [round(float(w), 3) for w in ranking], "slope": round(slope, 3),
                       "intercept": round(intercept, 3)}
    return rows
