"""A small learned decision over a text's sentence vector, shared by the stages that need one
(document markers at ingest, the crisis and warning-sign guards when answering).

Logistic regression over the unit-length vector the index's embedding model gives a text: one
dot product in numpy when used (no learning library at serving), fitted by ``training/`` with
scikit-learn. The file records which embedding model's vectors it was fitted on; under another
model its weights mean nothing, and callers leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SentenceClassifier:
    """Positive when ``vector · weights + bias >= threshold``."""

    weights: np.ndarray
    bias: float
    threshold: float
    embedding_model: str

    @classmethod
    def load(cls, path: Path) -> "SentenceClassifier":
        with np.load(path, allow_pickle=False) as data:
            return cls(data["weights"].astype(np.float32), float(data["bias"]), float(data["threshold"]),
                       str(data["embedding_model"]))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, weights=self.weights.astype(np.float32), bias=np.float64(self.bias),
                 threshold=np.float64(self.threshold), embedding_model=np.str_(self.embedding_model))

    def fits(self, embedder) -> bool:
        return self.embedding_model == embedder.name

    def score_vectors(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        norms = np.maximum(np.linalg.norm(vectors, axis=1), 1e-12)
        return (vectors @ self.weights) / norms + self.bias

    def scores(self, texts: list[str], embedder) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        return self.score_vectors(np.asarray(embedder.embed_batch(texts), dtype=np.float32))
