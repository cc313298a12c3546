"""Calibrate the scope threshold on labelled questions: `python -m assistant calibrate`.

For each question the pipeline runs up to the scope decision and records the best sentence
score (cosine similarity plus the bonus for sharing the question's words). Questions that use a word the corpus never uses are refused whatever the
threshold, so only the others decide it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import AssistantError

# Answering an out-of-scope question risks a wrong answer; refusing an in-scope one only
# sends the patient to the front desk. So a wrong answer weighs this much more.
WRONG_ANSWER_COST = 2.0


@dataclass(frozen=True)
class Observation:
    question: str
    in_scope: bool
    best_score: float
    unknown_terms: tuple[str, ...]


def choose_threshold(in_scope: list[float], out_of_scope: list[float],
                     other_out_of_scope: list[float] = (), step: float = 0.01) -> float:
    """The middle of the lowest-cost run of thresholds: the largest margin on both sides.

    Cost = in-scope questions refused + WRONG_ANSWER_COST x out-of-scope questions answered,
    over the questions the similarity decides (``in_scope``, ``out_of_scope``). When that
    run reaches down to zero, its floor is raised to the best-scoring of
    ``other_out_of_scope`` (refused by their words) below it, so the threshold still keeps a
    margin from out-of-scope evidence rather than sitting at an arbitrary 0.
    """
    if not in_scope and not out_of_scope:
        raise ValueError("no observations to calibrate on")
    grid = [round(i * step, 4) for i in range(int(round(1 / step)) + 1)]
    costs = [sum(s < t for s in in_scope) + WRONG_ANSWER_COST * sum(s >= t for s in out_of_scope) for t in grid]
    lowest = min(costs)
    best_run, run = [], []
    for t, cost in zip(grid, costs):
        if cost == lowest:
            run.append(t)
            if len(run) > len(best_run):
                best_run = list(run)
        else:
            run = []
    # The run's ends are grid points; the real gap is between the scores that bound it.
    low, high = best_run[0], best_run[-1]
    below = [s for s in list(out_of_scope) + list(other_out_of_scope) if s < high]
    if below:
        low = max(below)
    above = [s for s in in_scope if s >= low]
    if above:
        high = min(high, min(above))
    return round((low + high) / 2, 2)


def observe(assistant, rows: list[dict]) -> list[Observation]:
    steps = assistant.steps
    out = []
    for row in rows:
        state = steps.gather(steps.retrieve(steps.contextualise({"question": row["question"], "history": []})))
        out.append(Observation(row["question"], bool(row["in_scope"]), state["evidence"].best_score,
                               tuple(state["unknown"])))
    return out


def load_rows(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        raise AssistantError(f"calibration data {path} not found: pass --data with a JSONL file of "
                             '{"question": ..., "in_scope": true|false} lines.')
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append({"question": str(row["question"]), "in_scope": bool(row["in_scope"])})
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AssistantError(f"{path}:{number} is not a calibration row ({exc}); "
                                 'expected {"question": ..., "in_scope": true|false}.') from None
    return rows


def run_calibration(assistant, path: str | Path) -> str:
    observations = observe(assistant, load_rows(path))
    undecided = [o for o in observations if not o.unknown_terms]
    inside = [o.best_score for o in undecided if o.in_scope]
    outside = [o.best_score for o in undecided if not o.in_scope]
    by_words = [o.best_score for o in observations if o.unknown_terms and not o.in_scope]
    threshold = choose_threshold(inside, outside, by_words)
    lines = ["     score  label         unknown words   question"]
    for o in sorted(observations, key=lambda o: -o.best_score):
        label = "in scope" if o.in_scope else "out of scope"
        lines.append(f"{o.best_score:10.3f}  {label:12}  {','.join(o.unknown_terms)[:14]:14}  {o.question}")
    refused_in = sum(o.in_scope and (bool(o.unknown_terms) or o.best_score < threshold) for o in observations)
    answered_out = sum(not o.in_scope and not o.unknown_terms and o.best_score >= threshold for o in observations)
    lines.append(
        f"\nrecommended SCOPE_THRESHOLD={threshold:.2f} (configured {assistant.settings.scope_threshold:.2f}): "
        f"{refused_in} of {sum(o.in_scope for o in observations)} in-scope questions refused, "
        f"{answered_out} of {sum(not o.in_scope for o in observations)} out-of-scope questions answered"
    )
    return "\n".join(lines)
