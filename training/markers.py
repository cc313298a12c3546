"""`python -m training.markers`: learn which labels mark a document's part as not to be used.

Data: the "calibration" lines of evals/data/document_markers.jsonl (labels as clinics write them,
each marked withheld or not by a writer who had not seen the product's documents or code) and,
as ordinary labels, every heading and lead-in of the seed corpus. The "test" lines and the other
evaluation corpora are never read here: `python -m evals.markers` measures on them.

The learner is logistic regression over the labels' sentence vectors from the index's embedding
model (training/linear.py): its regularisation is picked by five-fold cross-validated AUC, and the
threshold on the out-of-fold scores: the lowest at which at most MAX_ORDINARY_WITHHELD of the
ordinary labels would be withheld (withholding a clinic's real answer is the worse error).
Writes models/markers/markers.npz; seeded, a few seconds on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "evals" / "data" / "document_markers.jsonl"
SEED_CORPUS = ROOT / "corpus"
MAX_ORDINARY_WITHHELD = 0.01


def training_labels(labels_file: Path = LABELS, corpus: Path = SEED_CORPUS) -> tuple[list[str], np.ndarray]:
    """(labels, withheld?) for fitting: the calibration split, and the seed corpus's labels as ordinary ones."""
    from assistant.ingest.markers import corpus_labels

    rows = [json.loads(line) for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    fit = [r for r in rows if r["split"] == "calibration"]
    texts = [r["label"] for r in fit]
    seen = {t.casefold() for t in texts}
    ordinary = [label for label in corpus_labels(corpus) if label.casefold() not in seen]
    return texts + ordinary, np.array([bool(r["withheld"]) for r in fit] + [False] * len(ordinary))


def fit(texts: list[str], withheld: np.ndarray, embedder, seed: int = 0):
    """The fitted marker model and the figures of its choice."""
    from .linear import fit_classifier

    vectors = np.asarray(embedder.embed_batch(texts), dtype=np.float32)
    model, figures = fit_classifier(vectors, withheld, embedder.name, MAX_ORDINARY_WITHHELD, seed=seed)
    return model, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--out", type=Path, default=None, help="where to write the model (default: the served one)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.embeddings import get_serving_embedder
    from assistant.ingest.markers import MODEL_FILE
    from assistant.settings import Settings

    embedder = get_serving_embedder(Settings.from_env())
    texts, withheld = training_labels(args.labels)
    model, figures = fit(texts, withheld, embedder)
    out = args.out or MODEL_FILE
    model.save(out)
    print(json.dumps(figures, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
