"""`python -m evals.calibrate [--write] [--corpus NAME ...]`: fit the relevance model and its thresholds.

For every judged question of the chosen corpora (never a held-out one), the pipeline runs up
to the relevance step and records each candidate unit's features (the four embedding signals
and the learned model's score), labelled by whether the unit quotes the case's evidence. Two
fits follow: a listwise ranking model over the chosen features (the softmax over each
answerable question's candidates puts its weight on the units holding the evidence), then a
logistic calibration of each question's best score against whether that best unit is right, so
the score reads as a probability. Two thresholds on it make three grades of reply:

- the answer threshold: the middle of the run with the lowest balanced error, the share of
  answerable questions not answered with their evidence first plus the share of unanswerable
  questions answered directly;
- the closest-passages threshold below it: the middle of the run with the fewest failures, where
  an answerable question whose evidence is shown neither as an answer nor among the closest
  passages, and an unanswerable one shown passages, count one each.

It prints the reach table per corpus (is the evidence among the candidates, is the best unit
right, in the top 2, top 3; the AUC of the best score, answerable against unanswerable) and what
each signal alone reaches, and with --write saves assistant/answer/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from assistant.answer.chain import Turn
from assistant.errors import AssistantError
from assistant.answer.guards import CALIBRATION_PATH, UrgentModel, write_calibration
from assistant.answer.answering import CLOSEST_MAX_UNITS
from assistant.answer.relevance import FEATURES, SIGNALS, RelevanceModel, auc
from assistant.settings import Settings

from . import metrics
from .corpora import Corpus, load_corpora, open_assistant
from .runner import load_cases

# Case kinds whose questions the relevance model decides (urgent and invalid ones never reach it).
JUDGED_KINDS = ("in_scope", "out_of_scope", "follow_up")
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
# The answer threshold weighs the two errors by their rates, not their counts: a direct answer
# to a question the documents do not answer, and an answerable question not answered with its
# evidence first, count the same share of their kind. The fitted corpora hold about three
# answerable questions to one unanswerable one, so counting cases would answer far more freely;
# holding unanswerable questions answered to 10% (the first three-grade calibration) answered
# only 7 of 43 held-out public questions directly (trade-off measured in docs/relevance.md).
# Real patients' health questions (K-QA, MIT licence: pain, medication, depression among them),
# beside the corpora's own questions as messages the crisis guard must leave alone; read from
# the shared QA data when it lies beside the project, as the dev set does.
PATIENT_QUESTIONS = Path(__file__).resolve().parent.parent.parent / "shared" / "qa-data" / "k-qa" / "dataset"
# A missed emergency weighs this many false alarms: the urgent threshold sits this much closer
# to the highest-scoring ordinary question than to the lowest-scoring emergency.
MISSED_EMERGENCY_COST = 5.0


@dataclass(frozen=True)
class Observation:
    corpus: str
    case: str
    answerable: bool
    features: np.ndarray  # one row per candidate unit, best candidate by the current model first
    labels: np.ndarray  # the unit quotes the case's evidence
    question: str = ""  # as scored: the question itself, made self-standing where it can be
    context: str | None = None  # the earlier question a follow-up points back to
    texts: tuple[str, ...] = ()  # each candidate unit as scored (its section and quote)

    def to_json(self) -> dict:
        return {"corpus": self.corpus, "case": self.case, "answerable": self.answerable, "question": self.question,
                "context": self.context, "texts": list(self.texts), "labels": self.labels.tolist(),
                "features": self.features.round(5).tolist()}


def observe(assistant, corpus: Corpus) -> list[Observation]:
    """Every judged question's candidates with all their features. Which reading of a follow-up
    is kept is decided by the current model: after a change of features, calibrate twice."""
    steps = assistant.steps
    out = []
    for case in load_cases(corpus.cases):
        if case.kind not in JUDGED_KINDS or not case.statuses:
            continue
        answerable = case.statuses[0] == "answered"
        if answerable and not case.evidence:
            continue
        turn = steps.read(Turn(case.question, tuple(case.history)))
        units = turn.evidence.units
        features = turn.features if turn.features is not None else np.zeros((0, len(FEATURES)), dtype=np.float32)
        labels = np.array([answerable and metrics.contains_any(u.unit.quote, case.evidence) for u in units], dtype=bool)
        snapshot = steps.snapshots()
        out.append(Observation(corpus.name, case.id, answerable, features, labels, turn.own or turn.query,
                               turn.context, tuple(snapshot.unit_text(u.unit) for u in units)))
    return out


def outcomes(model: RelevanceModel, observations: list[Observation], threshold: float,
             closest: float | None = None) -> dict[str, int]:
    """How whole questions fare at a threshold (and a closest-passages threshold below it):
    answerable ones answered right, wrong, with their evidence among the closest passages or not,
    or refused; unanswerable ones answered, given the closest passages, or refused."""
    closest = threshold if closest is None else closest
    tally = {"in_right": 0, "in_wrong": 0, "in_closest_shown": 0, "in_closest_missed": 0, "in_refused": 0,
             "out_answered": 0, "out_closest": 0, "out_refused": 0}
    for o in observations:
        if not len(o.features):
            tally["in_refused" if o.answerable else "out_refused"] += 1
            continue
        p = model.probability(o.features)
        order = np.argsort(-p, kind="stable")
        best = float(p[order[0]])
        if best >= threshold:
            grade = "right" if o.labels[order[0]] else "wrong"
        elif best >= closest:
            # The closest passages: up to CLOSEST_MAX_UNITS of the band (the composer also drops
            # a unit that repeats one already shown; rare enough to leave out here).
            shown = [i for i in order[:CLOSEST_MAX_UNITS] if p[i] >= closest]
            grade = "closest_shown" if o.labels[shown].any() else "closest_missed"
        else:
            grade = "refused"
        if o.answerable:
            tally[f"in_{grade}"] += 1
        else:
            tally["out_answered" if grade in ("right", "wrong") else "out_closest" if grade.startswith("closest")
                  else "out_refused"] += 1
    return tally


def closest_failures(tally: dict[str, int]) -> int:
    """At the closest threshold: an answerable question not answered whose evidence is not shown
    either, and an unanswerable one shown passages, count one each."""
    return tally["in_refused"] + tally["in_closest_missed"] + tally["out_closest"]


def _middle_of_best_run(grid, errors) -> float:
    lowest = min(errors)
    best_run, run = [], []
    for t, e in zip(grid, errors):
        run = run + [t] if e <= lowest + 1e-9 else []
        if len(run) > len(best_run):
            best_run = run
    return round(float(np.median(best_run)), 2)


def balanced_error(tally: dict[str, int]) -> float:
    """The share of answerable questions not answered with their evidence first plus the share
    of unanswerable questions answered directly (either share is 0 without questions of its kind)."""
    answerable = sum(v for k, v in tally.items() if k.startswith("in_"))
    unanswerable = sum(v for k, v in tally.items() if k.startswith("out_"))
    missed = 1 - tally["in_right"] / answerable if answerable else 0.0
    answered = tally["out_answered"] / unanswerable if unanswerable else 0.0
    return missed + answered


def choose_threshold(model: RelevanceModel, observations: list[Observation]) -> float:
    """The middle of the longest run of grid thresholds with the lowest balanced error."""
    return _middle_of_best_run(THRESHOLD_GRID, [balanced_error(outcomes(model, observations, t))
                                                for t in THRESHOLD_GRID])


def choose_closest_threshold(model: RelevanceModel, observations: list[Observation]) -> float:
    """Below the answer threshold: the middle of the longest run with the fewest closest failures
    (equal to the answer threshold when no band does better than none)."""
    grid = [t for t in THRESHOLD_GRID if t <= model.threshold] or [model.threshold]
    return _middle_of_best_run(grid, [closest_failures(outcomes(model, observations, model.threshold, t))
                                      for t in grid])


def signal_aucs(observations: list[Observation]) -> dict[str, float]:
    """Per signal: AUC of the question's best value, answerable against unanswerable questions."""
    out = {}
    for k, name in enumerate(FEATURES):
        pos = [float(o.features[:, k].max()) for o in observations if o.answerable and len(o.features)]
        neg = [float(o.features[:, k].max()) for o in observations if not o.answerable and len(o.features)]
        out[name] = auc(pos, neg)
    return out


def columns(observations: list[Observation], names: tuple[str, ...]) -> list[Observation]:
    """The observations with only the named feature columns (FEATURES order in, ``names`` order out)."""
    index = [FEATURES.index(n) for n in names]
    return [replace(o, features=o.features[:, index]) for o in observations]


def fit_ranking(observations: list[Observation], l2: float = 0.01) -> np.ndarray:
    """Weights whose softmax over each answerable question's candidates favours its evidence units
    (a listwise, conditional-logit fit; L2 keeps the weights small where the data say little)."""
    from scipy.optimize import minimize

    lists = [(o.features.astype(np.float64), o.labels) for o in observations if o.answerable and o.labels.any()]
    if not lists:
        raise AssistantError("calibration needs answerable questions whose evidence is among the candidates")

    def loss(w):
        total, grad = l2 * float(w @ w), 2 * l2 * w
        for features, labels in lists:
            z = features @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            hit = p * labels
            total -= float(np.log(hit.sum() + 1e-12))
            grad -= (hit / hit.sum() - p) @ features
        return total, grad

    return minimize(loss, np.ones(lists[0][0].shape[1]), jac=True, method="L-BFGS-B").x


def fit_calibration(observations: list[Observation], ranking: np.ndarray) -> tuple[float, float]:
    """Slope and intercept mapping a question's best ranking score to the chance that its best
    unit answers it (answerable, and the unit holds the evidence)."""
    from sklearn.linear_model import LogisticRegression

    best, right = [], []
    for o in observations:
        if not len(o.features):
            continue
        scores = o.features @ ranking
        top = int(np.argmax(scores))
        best.append(scores[top])
        right.append(bool(o.answerable and o.labels[top]))
    if all(right) or not any(right):
        raise AssistantError("calibration needs questions answered right and wrong: add cases of both kinds")
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(np.asarray(best)[:, None], np.asarray(right, dtype=int))
    return float(clf.coef_[0][0]), float(clf.intercept_[0])


def calibrate(observations: list[Observation], note: str, features: tuple[str, ...] = SIGNALS) -> RelevanceModel:
    own = columns(observations, features)
    ranking = fit_ranking(own)
    slope, intercept = fit_calibration(own, ranking)
    model = RelevanceModel(tuple(float(w) for w in slope * ranking), intercept, 0.5, note, 0.5, features)
    model = replace(model, threshold=choose_threshold(model, observations))
    return replace(model, closest_threshold=choose_closest_threshold(model, observations))


def urgent_scores(assistant, corpus: Corpus, kind: str = "urgent") -> list[tuple[bool, float]]:
    """(is a case of ``kind``, score) for every case with a question: "urgent" scores the warning
    signs (crisis cases left out: the crisis guard answers them first), "crisis" the crisis
    language (every other case, emergencies included, a negative)."""
    detector = assistant.steps.crisis if kind == "crisis" else assistant.steps.urgent
    return [(case.kind == kind, detector.score(case.question))
            for case in load_cases(corpus.cases) if isinstance(case.question, str) and case.question.strip()
            and not (kind == "urgent" and case.kind == "crisis")]


def patient_questions(folder: Path = PATIENT_QUESTIONS) -> list[str]:
    """K-QA's real patient questions (empty when the shared QA data is not here)."""
    questions = set()
    for name in ("questions.jsonl", "questions_w_answers.jsonl"):
        path = folder / name
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    questions.add(json.loads(line)["Question"])
    return sorted(questions)


def choose_urgent_threshold(scores: list[tuple[bool, float]]) -> float:
    """Lowest cost (MISSED_EMERGENCY_COST per missed emergency, one per false alarm); within the
    lowest-cost stretch, the point 1/(1+cost) of the way up from its bottom."""
    grid = np.round(np.arange(0.0, 1.0001, 0.005), 3)
    costs = [MISSED_EMERGENCY_COST * sum(u and s < t for u, s in scores) + sum(not u and s >= t for u, s in scores)
             for t in grid]
    lowest = min(costs)
    run = [t for t, c in zip(grid, costs) if c == lowest]
    low = max([s for u, s in scores if not u and s < run[0] + 1e-9], default=run[0])
    high = min([s for u, s in scores if u and s >= run[-1] - 1e-9], default=run[-1])
    if high <= low:
        low, high = run[0], run[-1]
    return round(low + (high - low) / (1 + MISSED_EMERGENCY_COST), 3)


def urgent_report(threshold: float, scores: list[tuple[bool, float]], what: str = "emergencies") -> str:
    flagged = sum(u and s >= threshold for u, s in scores)
    false = sum(not u and s >= threshold for u, s in scores)
    positives, negatives = [s for u, s in scores if u], [s for u, s in scores if not u]
    separation = f", AUC {auc(positives, negatives):.3f}" if positives and negatives else ""
    return (f"{what} flagged {flagged}/{len(positives)}, other questions flagged {false}/{len(negatives)}{separation}")


def _answerable(t: dict[str, int]) -> int:
    return t["in_right"] + t["in_wrong"] + t["in_closest_shown"] + t["in_closest_missed"] + t["in_refused"]


def _figures(model: RelevanceModel, name: str, observations: list[Observation]) -> str:
    t = outcomes(model, observations, model.threshold, model.closest_threshold)
    n_out = t["out_refused"] + t["out_closest"] + t["out_answered"]
    return (f"{name} answerable {t['in_right']}/{_answerable(t)} right first, "
            f"{t['in_right'] + t['in_closest_shown']} evidence shown; "
            f"unanswerable {t['out_answered']}/{n_out} answered")


def reach(model: RelevanceModel, observations: list[Observation], refused_share: float = 0.9) -> dict[str, int]:
    """What no threshold can change, per corpus: how many answerable questions have their evidence
    among the candidates at all, how many the model ranks it first (in its top 2, top 3) for, the
    AUC of the best score between answerable and unanswerable questions, and how many are still
    answered right at the lowest threshold that refuses ``refused_share`` of the unanswerable ones."""
    answerable = [o for o in observations if o.answerable]
    out = {"answerable": len(answerable), "among_candidates": sum(bool(o.labels.any()) for o in answerable)}
    for k in (1, 2, 3):
        out[f"top{k}"] = sum(bool(len(o.features)) and bool(o.labels[np.argsort(-model.probability(o.features),
                                                                                     kind="stable")[:k]].any())
                             for o in answerable)
    out["ranked_first"] = out["top1"]
    best = [(o.answerable, float(model.probability(o.features).max())) for o in observations if len(o.features)]
    out["auc"] = auc([b for a, b in best if a], [b for a, b in best if not a])
    n_out = len(observations) - len(answerable)
    for t in np.round(np.arange(0.0, 1.0001, 0.01), 2):
        tally = outcomes(model, observations, t)
        if tally["out_refused"] >= refused_share * n_out:
            out["right_at_target_refusals"] = tally["in_right"]
            break
    return out


def report(model: RelevanceModel, by_corpus: dict[str, list[Observation]]) -> str:
    lines = [f"weights {dict(zip(model.features, (round(w, 3) for w in model.weights)))}, bias {model.bias:.3f}, "
             f"threshold {model.threshold:.2f}, closest passages from {model.closest_threshold:.2f}"]
    for name, obs in by_corpus.items():
        t = outcomes(model, obs, model.threshold, model.closest_threshold)
        n_in, n_out = _answerable(t), t["out_refused"] + t["out_closest"] + t["out_answered"]
        r = reach(model, obs)
        lines.append(f"{name}: answerable {t['in_right']}/{n_in} right first, {t['in_wrong']} wrong first, "
                     f"{t['in_closest_shown']} closest with the evidence, {t['in_closest_missed']} closest without, "
                     f"{t['in_refused']} refused; unanswerable {t['out_answered']}/{n_out} answered, "
                     f"{t['out_closest']} closest, {t['out_refused']} refused")
        lines.append(f"  AUC of the best score {r['auc']:.3f}; signals alone: "
                     + "  ".join(f"{k} {v:.3f}" for k, v in signal_aucs(obs).items()))
        lines.append(f"  reach: evidence among the candidates {r['among_candidates']}/{r['answerable']}, "
                     f"best unit right {r['top1']}, in top 2 {r['top2']}, in top 3 {r['top3']} (at any threshold); "
                     f"right first when 90% of unanswerable are refused "
                     f"{r.get('right_at_target_refusals', 0)}/{r['answerable']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", nargs="*", help="corpora to fit on (default: every one not held out)")
    parser.add_argument("--write", action="store_true", help=f"save the fitted model to {CALIBRATION_PATH.name}")
    parser.add_argument("--data", type=Path, help="where to keep the corpora's indexes (default: a temporary folder)")
    parser.add_argument("--features", nargs="+", choices=FEATURES,
                        help="the features to fit (default: the current model's); 'learned' is the learned "
                             "late-interaction model (Settings.relevance_model)")
    parser.add_argument("--dump", type=Path, help="also write every observation (question, candidate texts, "
                        "labels, features) to this JSON-lines file, for `python -m training evaluate`")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        corpora = [c for c in load_corpora(args.corpus) if c.available]
        fit_on = [c for c in corpora if not c.held_out]
        if args.corpus and len(fit_on) < len(args.corpus):
            raise AssistantError("held-out or missing corpora cannot be fitted on: " + ", ".join(
                sorted(set(args.corpus) - {c.name for c in fit_on})))
        if not fit_on:
            raise AssistantError("no corpus to fit on: see evals/corpora.toml")
        base = Settings.from_env(llm_provider="")
        current = RelevanceModel.load(base.calibration_file)
        features = tuple(args.features) if args.features else current.features
        by_corpus, urgent, crisis = {}, {}, {}
        with tempfile.TemporaryDirectory() as tmp:
            root = args.data or Path(tmp)
            for c in corpora:
                assistant = open_assistant(base, c, root)
                by_corpus[c.name], urgent[c.name] = observe(assistant, c), urgent_scores(assistant, c)
                crisis[c.name] = urgent_scores(assistant, c, "crisis")
        names = ", ".join(c.name for c in fit_on)
        training = [o for c in fit_on for o in by_corpus[c.name]]
        model = calibrate(training, f"fitted on {names} ({len(training)} questions, "
                                    f"{sum(len(o.labels) for o in training)} question-unit pairs)", features)
        reached = "; ".join(_figures(model, name, by_corpus[name]) for name in (c.name for c in fit_on))
        model = replace(model, fitted_on=f"{model.fitted_on}; at threshold {model.threshold}: {reached}")
        urgent_model = UrgentModel(choose_urgent_threshold([x for c in fit_on for x in urgent[c.name]]), "")
        urgent_model = replace(urgent_model, fitted_on=f"fitted on {names}; " + "; ".join(
            f"{c.name} {urgent_report(urgent_model.threshold, urgent[c.name])}" for c in fit_on))
        patients = patient_questions()
        if patients:  # the crisis guard reads the embedding model only: any corpus's assistant scores alike
            crisis["k-qa patient questions"] = [(False, assistant.steps.crisis.score(q)) for q in patients]
        crisis_fit = [x for c in fit_on for x in crisis[c.name]] + crisis.get("k-qa patient questions", [])
        crisis_model = UrgentModel(choose_urgent_threshold(crisis_fit), "")
        crisis_model = replace(crisis_model, fitted_on=f"fitted on {names}" + (" and K-QA" if patients else "") + "; "
                               + "; ".join(f"{name} {urgent_report(crisis_model.threshold, crisis[name], 'crisis messages')}"
                                           for name in [c.name for c in fit_on] + (["k-qa patient questions"] if patients else [])))
    except (AssistantError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.dump:
        args.dump.parent.mkdir(parents=True, exist_ok=True)
        args.dump.write_text("".join(json.dumps(o.to_json()) + "\n" for obs in by_corpus.values() for o in obs))
    print(report(model, by_corpus))
    print(f"urgent threshold {urgent_model.threshold:.3f}")
    for name, scores in urgent.items():
        print(f"{name}: {urgent_report(urgent_model.threshold, scores)}")
    print(f"crisis threshold {crisis_model.threshold:.3f}")
    for name, scores in crisis.items():
        print(f"{name}: {urgent_report(crisis_model.threshold, scores, 'crisis messages')}")
    if args.write:
        model.save()
        write_calibration("urgent", asdict(urgent_model))
        write_calibration("crisis", asdict(crisis_model))
        print(f"saved {CALIBRATION_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
