"""The learned relevance model: late interaction over the embedding model's word vectors.

Trained by ``python -m training train late-interaction`` on open question-answer data
(models/relevance/MODEL_CARD.md says which, under which licences, and what it reached). It runs
no model of its own: the question's and the units' word vectors are the ones the embedder
already gives for the relevance signals, and the learned part is a projection, word weights and
how the matches add up, a few small matrix products (numpy, no torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ModelLoadError

# How close the soft minimum of the word matches sits to the hard one (fixed in training).
SOFTMIN_SHARPNESS = 10.0


class LateInteractionModel:
    """A learned late-interaction scorer over the serving model's word vectors (ColBERT's MaxSim
    through a trained projection, with trained question-word weights): numpy only, no model run
    of its own. Trained by ``python -m training train late-interaction``."""

    def __init__(self, path: Path) -> None:
        try:
            with np.load(path) as f:
                self.projection = f["projection"].astype(np.float32)
                self.word = f["word"].astype(np.float32)
                (self.rarity, self.word_bias, self.mean_weight, self.worst_weight,
                 self.bias) = (float(x) for x in f["scalars"])
                # The embedding model whose word vectors it was trained on: it fits no other.
                self.embedding_model = str(f["embedding_model"]) if "embedding_model" in f.files else ""
        except Exception as exc:  # a missing or corrupt file: say which and how to get it back
            raise ModelLoadError(f"could not read the relevance model {Path(path).name} ({type(exc).__name__}): "
                                 "restore models/relevance from git (models/relevance/MODEL_CARD.md says how "
                                 "it was made).") from None

    def fits(self, embedder_name: str) -> bool:
        return self.embedding_model == embedder_name

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """A passage's word vectors in the learned space (unit length): computed once per unit
        and cached by the caller, since they do not depend on the question."""
        return _unit_rows(vectors @ self.projection) if len(vectors) else vectors

    def scores(self, question: np.ndarray, rarity: np.ndarray, projected: Sequence[np.ndarray]) -> np.ndarray:
        """One logit a passage: ``question`` (n, d) word vectors as the embedder gives them, with
        their rarity (n,) (7 - Zipf); each passage's word vectors already ``project``ed."""
        out = np.full(len(projected), self.bias, dtype=np.float32)
        sizes = [len(p) for p in projected]
        if not len(question) or not sum(sizes):
            return out
        q = _unit_rows(question @ self.projection)
        w = np.logaddexp(0.0, question @ self.word + self.rarity * rarity + self.word_bias)
        share = (w / max(float(w.sum()), 1e-6)).astype(np.float32)
        # Every passage word in one product, then each passage's best match per question word.
        similarity = q @ np.concatenate([p for p in projected if len(p)]).T
        at = 0
        for row, size in enumerate(sizes):
            if not size:
                continue
            best = similarity[:, at:at + size].max(axis=1)
            at += size
            mean = float(share @ best)
            worst = -float(np.log(max(float(share @ np.exp(-SOFTMIN_SHARPNESS * best)), 1e-30))) / SOFTMIN_SHARPNESS
            out[row] = self.mean_weight * mean + self.worst_weight * worst + self.bias
        return out


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-6)
