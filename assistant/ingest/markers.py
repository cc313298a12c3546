"""Keep from patients what a document itself marks as not to be used.

Clinics leave such parts in their own files: "!! OLD PRICES - DO NOT QUOTE !!", "[SUPERSEDED
2023-11-01] pricing matrix", "Draft: awaiting sign-off", "staff only". No list of such phrases is
ever complete (each clinic writes its own), so a learned classifier reads each label a block is
under (a heading of its section, a list's lead-in, a line's own label): logistic regression over
the label's sentence vector from the index's embedding model, trained on labelled labels
(``python -m training.markers``; data, figures and rebuild in models/markers/MODEL_CARD.md).

A block under a label judged a marker is indexed staff-only: the front desk still finds it, its
label quoted with it; patients are never shown it. Of the two errors, withholding an ordinary
block is the worse one (it refuses what the clinic answers; a missed marker is still quoted with
its label), so the threshold is set where at most 1% of ordinary labels are withheld.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from ..classifier import SentenceClassifier
from .cleaning import SECTION_SEPARATOR, Block, CleanDocument

log = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).resolve().parents[2] / "models" / "markers" / "markers.npz"


# The marker model is a sentence classifier over the label (shared with the safety guards).
MarkerModel = SentenceClassifier


def block_labels(block: Block) -> list[str]:
    """What a block is under: each heading of its section path and each unit's lead-in or label."""
    labels = [part for part in block.section.split(SECTION_SEPARATOR) if part]
    return labels + [unit.context for unit in block.units if unit.context and unit.context not in labels]


def corpus_labels(corpus_dir: Path) -> list[str]:
    """Every label of the documents in ``corpus_dir``, as ingest reads them."""
    from .cleaning import clean_document
    from .loading import load_corpus

    return sorted({label for doc in load_corpus(corpus_dir).documents
                   for block in clean_document(doc).blocks for label in block_labels(block)})


def withhold_marked(docs: list[CleanDocument], embedder, model: MarkerModel | None) -> list[CleanDocument]:
    """``docs`` with each block under a marker label carrying that label in ``withheld``. Without a
    model for ``embedder``'s vectors nothing is withheld (and the log says why)."""
    if model is None:
        return docs
    if not model.fits(embedder):
        log.warning("labels that mark a part as not to be used are not looked for: the marker model was "
                    "trained on %s vectors, the index uses %s", model.embedding_model, embedder.name)
        return docs
    labels = sorted({label for doc in docs for block in doc.blocks for label in block_labels(block)})
    scores = model.scores(labels, embedder)
    markers = {label for label, score in zip(labels, scores) if score >= model.threshold}
    if not markers:
        return docs
    out = []
    for doc in docs:
        blocks = tuple(replace(block, withheld=next((l for l in block_labels(block) if l in markers), ""))
                       for block in doc.blocks)
        out.append(replace(doc, blocks=blocks))
    return out


def load_marker_model() -> MarkerModel | None:
    """The shipped model, or None (with a warning) when the file is missing."""
    if not MODEL_FILE.is_file():
        log.warning("no marker model at %s: parts marked as not to be used are not kept from patients "
                    "(python -m training.markers builds it)", MODEL_FILE.name)
        return None
    return MarkerModel.load(MODEL_FILE)
