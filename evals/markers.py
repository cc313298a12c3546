"""`python -m evals.markers`: the labels that keep a part of a document from patients, measured.

On the "test" lines of evals/data/document_markers.jsonl (written as a second clinic, never fitted
on): how many labels that mark a part as not to be used are caught, and how many ordinary ones are
taken for such (hard cases among them: "DO NOT SCRATCH – itching is normal", "Legacy acne scarring"). Then,
for each evaluation corpus, every label of its documents that ingest would treat as a marker: in
the held-out corpora each one is a part of a real clinic's page kept from its patients. Floors and
limits are the [markers] table of evals/data/thresholds.toml.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.embeddings import get_serving_embedder
from assistant.ingest.markers import MODEL_FILE, MarkerModel, corpus_labels
from assistant.settings import Settings

from .corpora import load_corpora

LABELS = Path(__file__).resolve().parent / "data" / "document_markers.jsonl"


def measure(model: MarkerModel, embedder, corpora=None) -> dict:
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    test = [r for r in rows if r["split"] == "test"]
    scores = model.scores([r["label"] for r in test], embedder)
    flagged = [bool(s >= model.threshold) for s in scores]
    withheld = [r for r in test if r["withheld"]]
    result = {
        "test": {"recall": sum(f for f, r in zip(flagged, test) if r["withheld"]) / len(withheld),
                 "ordinary_withheld": sum(f for f, r in zip(flagged, test) if not r["withheld"]) / (len(test) - len(withheld)),
                 "missed": [r["label"] for f, r in zip(flagged, test) if r["withheld"] and not f],
                 "wrongly_withheld": [r["label"] for f, r in zip(flagged, test) if not r["withheld"] and f]},
        "corpora": {},
    }
    for corpus in corpora if corpora is not None else load_corpora():
        labels = corpus_labels(corpus.corpus_dir)
        marked = [l for l, s in zip(labels, model.scores(labels, embedder)) if s >= model.threshold]
        result["corpora"][corpus.name] = {"labels": len(labels), "withheld": marked}
    return result


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    result = measure(MarkerModel.load(MODEL_FILE), get_serving_embedder(Settings.from_env()))
    test = result["test"]
    print(f"test labels: markers caught {test['recall']:.0%}, ordinary labels withheld {test['ordinary_withheld']:.0%}")
    for label in test["missed"]:
        print(f"  missed: {label}")
    for label in test["wrongly_withheld"]:
        print(f"  withheld, though ordinary: {label}")
    for name, got in result["corpora"].items():
        print(f"{name}: {len(got['withheld'])} of {got['labels']} labels mark their part as not to be used"
              + "".join(f"\n  {label}" for label in got["withheld"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
