"""`python -m evals.pii`: how much personal data the question log's redaction removes, and how
much else it takes.

`evals/data/pii_messages.jsonl` holds messages written as patients type them: 47 with personal
data (names, e-mail addresses and phone numbers, also written out in words, street addresses
without a number pattern, social handles, health conditions and medicines that tell one, dates of
birth, an NHS number), each listing the pieces that must not be stored, and 22 without any. They
were written before the recognizers; after the first run three recognizers were corrected (an
unspaced "@" only for e-mail, a house number before a street name, a condition spaCy took for a
place), so the figures are not held out. The medicines are a known gap. Measures, as pure functions of (message, redacted text):

- recall: of the pieces of personal data, the share removed whole (none of their words, other
  than stop words, left in the redacted text);
- per kind, the same;
- false redactions: the share of messages without personal data that were changed at all, and
  the share of their words lost.

Floors are the [pii] table of evals/data/thresholds.toml (the CI test, tests/test_text.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from assistant.text import STOPWORDS, redact, words

MESSAGES = Path(__file__).resolve().parent / "data" / "pii_messages.jsonl"


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    message: str
    pii: tuple[str, ...]


def load_cases(path: Path = MESSAGES) -> list[Case]:
    with path.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [Case(r["id"], r["kind"], r["message"], tuple(r["pii"])) for r in rows]


def _key_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOPWORDS}


def removed(piece: str, redacted: str) -> bool:
    """Whether none of the piece's words (stop words aside) is left in the redacted text."""
    return not (_key_words(piece) & set(words(redacted)))


def metrics(cases: list[Case], redacted: dict[str, str]) -> dict:
    """Recall over the pieces of personal data (overall and per kind) and false redactions on
    the messages without any."""
    found, total = defaultdict(int), defaultdict(int)
    clean_changed = clean_words = clean_lost = 0
    clean = [c for c in cases if not c.pii]
    for case in cases:
        out = redacted[case.id]
        for piece in case.pii:
            total[case.kind] += 1
            found[case.kind] += removed(piece, out)
        if not case.pii:
            clean_changed += out != case.message
            kept = words(out)
            clean_words += len(words(case.message))
            clean_lost += sum(1 for w in words(case.message) if w not in kept)
    pieces = sum(total.values())
    return {
        "recall": sum(found.values()) / pieces if pieces else 1.0,
        "pieces": pieces,
        "recall_by_kind": {k: found[k] / total[k] for k in sorted(total)},
        "false_redaction_rate": clean_changed / len(clean) if clean else 0.0,
        "clean_words_lost": clean_lost / clean_words if clean_words else 0.0,
        "clean_messages": len(clean),
    }


def run(cases: list[Case]) -> tuple[dict[str, str], float]:
    """Every message redacted (the recogniser warmed first); and the mean milliseconds a message."""
    redact("warm up")
    start = time.perf_counter()
    out = {c.id: redact(c.message) for c in cases}
    return out, (time.perf_counter() - start) * 1000 / max(len(cases), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.pii", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=MESSAGES)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    cases = load_cases(args.data)
    redacted, ms = run(cases)
    figures = metrics(cases, redacted) | {"ms_per_message": round(ms, 1)}
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"recall {figures['recall']:.3f} of {figures['pieces']} pieces of personal data; "
          f"false redactions {figures['false_redaction_rate']:.3f} of {figures['clean_messages']} messages without "
          f"any ({figures['clean_words_lost']:.3f} of their words); {ms:.1f} ms a message")
    for kind, value in figures["recall_by_kind"].items():
        print(f"  {kind:14} {value:.2f}")
    for case in cases:
        out = redacted[case.id]
        missed = [p for p in case.pii if not removed(p, out)]
        if missed or (not case.pii and out != case.message):
            print(f"{case.id}: {out}" + (f"   (missed: {', '.join(missed)})" if missed else "   (changed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
