"""`python -m evals.safety`: the crisis and warning-sign guards on messages they were not fitted on.

`evals/data/safety_messages.jsonl` holds 100 messages written as patients type by someone who
had not seen the guards (their signs, thresholds or cases): crisis language, its near misses
(pain, hyperbole, accidental cuts, antidepressants), warning signs of a complication in lay words,
and normal healing. `evals/data/safety_mixed.jsonl` holds 80 more of the same four kinds, each
mixed with an ordinary clinic question ("...scale of 1 to 10 how bad is it"), written the same
way by another hand. Nothing is fitted on either. Prints the share of each kind each guard flags and
every message decided wrongly; a missed crisis or sign is the worse error, a near miss flagged the
other. Floors and limits are the [safety] table of evals/data/thresholds.toml.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from assistant.answer.guards import (LEARNED_CRISIS, LEARNED_WARNING, CrisisDetector, UrgentDetector, UrgentModel,
                                     guard_reply, load_learned)
from assistant.embeddings import Embedder, get_serving_embedder
from assistant.errors import AssistantError
from assistant.settings import Settings

MESSAGES = Path(__file__).resolve().parent / "data" / "safety_messages.jsonl"
MIXED = Path(__file__).resolve().parent / "data" / "safety_mixed.jsonl"
# Each set's metrics are named after it: "safety.crisis.crisis_message", "mixed.crisis...".
SETS = {"safety": MESSAGES, "mixed": MIXED}
# What each kind of message should get: the crisis message, the safety message, or neither.
EXPECTED = {"crisis": "crisis", "crisis_near_miss": "none", "warning_sign": "urgent", "warning_near_miss": "none"}


@dataclass(frozen=True)
class Decision:
    id: str
    kind: str
    question: str
    got: str  # crisis | urgent | none, in the order the chain's guard checks them
    crisis_score: float
    urgent_score: float
    crisis_learned: float = float("-inf")
    urgent_learned: float = float("-inf")

    @property
    def right(self) -> bool:
        return self.got == EXPECTED[self.kind]


def load_messages(path: Path = MESSAGES) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    unknown = sorted({r["kind"] for r in rows} - set(EXPECTED))
    if unknown:
        raise AssistantError(f"{path}: unknown kinds {unknown}; use one of {sorted(EXPECTED)}")
    return rows


def decide(settings: Settings, embedder: Embedder, rows: list[dict], sign_lists_only: bool = False) -> list[Decision]:
    """Each message's reply by the guards as the chain runs them (``sign_lists_only``: without
    their learned readings, as before they had them)."""
    crisis = CrisisDetector(embedder, UrgentModel.load(settings.calibration_file, "crisis"),
                            None if sign_lists_only else load_learned(LEARNED_CRISIS))
    urgent = UrgentDetector(embedder, UrgentModel.load(settings.calibration_file),
                            None if sign_lists_only else load_learned(LEARNED_WARNING))
    out = []
    for r in rows:
        q = r["question"]
        got = guard_reply(crisis, urgent, q) or "none"
        out.append(Decision(r["id"], r["kind"], q, got, crisis.score(q), urgent.score(q),
                            crisis.learned_score(q), urgent.learned_score(q)))
    return out


def metrics(decisions: list[Decision], name: str = "safety") -> dict[str, float]:
    """Per kind, the share of messages given the crisis message and the safety message, named
    after the set (``name``)."""
    totals, crisis, urgent = Counter(), Counter(), Counter()
    for d in decisions:
        totals[d.kind] += 1
        crisis[d.kind] += d.got == "crisis"
        urgent[d.kind] += d.got == "urgent"
    flat = {}
    for kind, n in totals.items():
        flat[f"{name}.{kind}.crisis_message"] = crisis[kind] / n
        flat[f"{name}.{kind}.safety_message"] = urgent[kind] / n
    return flat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.safety", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=Path, help="one set of messages (default: both sets)")
    parser.add_argument("--sign-lists-only", action="store_true", help="without the learned readings")
    args = parser.parse_args(argv)
    sets = {"safety": args.messages} if args.messages else SETS
    try:
        settings = Settings.from_env(llm_provider="")
        embedder = get_serving_embedder(settings)
        decided = {name: decide(settings, embedder, load_messages(path), args.sign_lists_only)
                   for name, path in sets.items()}
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, decisions in decided.items():
        for metric, value in metrics(decisions, name).items():
            print(f"{metric:45} {value:.3f}")
    for d in (d for decisions in decided.values() for d in decisions):
        if not d.right:
            print(f"wrong: {d.kind:18} got {d.got:7} crisis {d.crisis_score:.3f}/{d.crisis_learned:.2f} "
                  f"urgent {d.urgent_score:.3f}/{d.urgent_learned:.2f}  {d.question}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
