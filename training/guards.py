"""`python -m training.guards`: learn the crisis and warning-sign guards' sentence classifiers.

The guards' first readings stay (crisis language near one of the 988 Lifeline's signs, every word
of a warning sign present); these learn how patients say the same things in their own words
("wont be around much longer", "yellow stuff where you did the needling"). Each is logistic
regression over the message's sentence vector (training/linear.py), and a message is flagged
when either reading flags it.

Data, none of it the held-out messages of evals/data/safety_messages.jsonl:
- evals/data/safety_training.jsonl: crisis messages, warning signs in lay words, near misses of
  both (hyperbole, treatment pain, normal healing) and ordinary clinic questions, written for this
  project as patients type;
- the fitted evaluation corpora's cases (seeds, dev set): crisis cases as crisis, urgent cases as
  warning signs, every other case as an ordinary message;
- for the crisis guard, as ordinary messages of other kinds, K-QA's real patient questions (MIT),
  3,000 of SQuAD 2.0's questions (CC BY-SA 4.0) and the CDC and FDA FAQ questions (public domain),
  read from ../shared/qa-data when it is there.

The threshold, on the out-of-fold scores: the lowest at which at most MAX_ORDINARY_FLAGGED of the
clinic-chat messages that are no sign would be flagged, since a false alarm there replaces the
clinic's answer to an everyday question. The crisis guard's near misses (hyperbole is rare in a
clinic's chat) and the open questions (not clinic chat) are learnt from but not counted; the
warning-sign guard's near misses (normal healing, most of a clinic's aftercare questions) are
counted. Cross-validated: 108 of 144 crisis messages and 139 of 167 warning signs caught, 9 of
978 and 9 of 944 counted messages flagged. Tried first, and replaced: a miss costing five false
alarms (2% of ordinary messages flagged, a quarter of the crisis near misses) and counting K-QA's
questions as clinic messages (3% of clinic questions flagged). Writes models/safety/crisis.npz and
models/safety/warning-signs.npz; seeded, about 25 s on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = ROOT / "evals" / "data" / "safety_training.jsonl"
QA_DATA = ROOT.parent / "shared" / "qa-data"
MAX_ORDINARY_FLAGGED = 0.01


def open_questions(root: Path = QA_DATA, squad: int = 3000, seed: int = 7) -> list[str]:
    """Everyday questions of other kinds, as ordinary messages for the crisis guard: a sample of
    SQuAD 2.0's (CC BY-SA 4.0) and every CDC and FDA FAQ question (public domain), 60% rewritten
    as patients type. Without them the guard read an unknown word in a short question (a
    clinic's name) as a sign of crisis. Empty when the shared QA data is not here."""
    import random

    from .patient import as_patient_types

    rng = random.Random(seed)
    questions: list[str] = []
    squad_file = root / "squad2-dev" / "squad2_dev.json"
    if squad_file.exists():
        data = json.loads(squad_file.read_text(encoding="utf-8"))
        every = sorted({qa["question"].strip() for article in data["data"] for paragraph in article["paragraphs"]
                        for qa in paragraph["qas"]})
        questions += rng.sample(every, min(squad, len(every)))
    for path in sorted((root / "covid-faq-usgov-jhu").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = json.loads(line).get("questionText", "").strip() if line.strip() else ""
            if text:
                questions.append(text)
    return [as_patient_types(q, rng) if rng.random() < 0.6 else q for q in dict.fromkeys(questions)]


def training_sets(messages: Path = MESSAGES) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """For each guard ("crisis", "warning"), its (messages, flag?, counted?) to fit on; counted
    messages are those its share of false alarms is taken over."""
    from evals.calibrate import patient_questions
    from evals.corpora import load_corpora
    from evals.runner import load_cases

    rows = [json.loads(line) for line in messages.read_text(encoding="utf-8").splitlines() if line.strip()]
    cases = [(case.kind, case.question) for corpus in load_corpora() if not corpus.held_out
             for case in load_cases(corpus.cases) if isinstance(case.question, str) and case.question.strip()]
    crisis_near = {r["question"] for r in rows if r["kind"] == "crisis_near_miss"}
    others = set(patient_questions()) | set(open_questions())  # not clinic chat: learnt from, not counted
    crisis = [(r["question"], r["kind"] == "crisis") for r in rows]
    crisis += [(q, kind == "crisis") for kind, q in cases]
    crisis += [(q, False) for q in sorted(others)]
    # Crisis messages get the crisis message first: the warning-sign guard neither learns from
    # them nor is measured on them.
    warning = [(r["question"], r["kind"] == "warning_sign") for r in rows if r["kind"] != "crisis"]
    warning += [(q, kind == "urgent") for kind, q in cases if kind != "crisis"]
    out = {}
    for name, pairs in (("crisis", crisis), ("warning", warning)):
        seen, texts, flags = set(), [], []
        for text, flag in pairs:
            if text.casefold() not in seen:
                seen.add(text.casefold())
                texts.append(text)
                flags.append(flag)
        flags = np.array(flags)
        # What counts towards the share of false alarms: clinic-chat messages that are no sign;
        # for the crisis guard not its near misses either (hyperbole is rare in a clinic's chat,
        # questions about normal healing are most of it).
        uncounted = others | (crisis_near if name == "crisis" else set())
        out[name] = (texts, flags, ~flags & np.array([t not in uncounted for t in texts]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=Path, default=MESSAGES)
    parser.add_argument("--out", type=Path, default=None, help="folder to write the models to (default: the served ones)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.answer.guards import LEARNED_CRISIS, LEARNED_WARNING, safety_text
    from assistant.embeddings import get_serving_embedder
    from assistant.settings import Settings
    from .linear import fit_classifier

    embedder = get_serving_embedder(Settings.from_env())
    targets = {"crisis": LEARNED_CRISIS, "warning": LEARNED_WARNING}
    for name, (texts, flags, ordinary) in training_sets(args.messages).items():
        # The guards read a message as they read it when answering (look-alike letters folded).
        vectors = np.asarray(embedder.embed_batch([safety_text(t) for t in texts]), dtype=np.float32)
        model, figures = fit_classifier(vectors, flags, embedder.name, max_false=MAX_ORDINARY_FLAGGED,
                                        counted=ordinary, seed=0)
        out = (args.out / targets[name].name) if args.out else targets[name]
        model.save(out)
        print(json.dumps({name: figures}, indent=2))
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
