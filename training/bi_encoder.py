"""The shipped bi-encoder fine-tuned contrastively on question-answer pairs.

sentence-transformers' MultipleNegativesRankingLoss: each question against its answer, the
other questions' answers in the step (in-batch negatives) and its own hard negative. The score
of a pair stays the cosine of the two vectors, so a unit's vector can still be computed once at
ingest. Questions written to be unanswerable have no answer to pull towards and are left out:
a bi-encoder learns where answers lie, not when there is none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .data import Example


def triplets(groups: list[list[Example]]) -> list[list[Example]]:
    """(question, answer, hardest negative) per question that has an answer and a negative."""
    out = []
    for group in groups:
        positives = [e for e in group if e.label == 1]
        negatives = [e for e in group if e.label == 0 and e.kind != "random"] or [e for e in group if e.label == 0]
        if positives and negatives:
            out.append([positives[0], negatives[0]])
    return out


def train(model_path: str, groups: list[list[Example]], config, out: Path) -> dict:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from .loop import seed_everything, train as run

    seed_everything(config.seed)
    model = SentenceTransformer(model_path, device="cpu")
    # Units are one to three sentences: 128 tokens hold them, at half the cost of the model's 256.
    model.max_seq_length = 128
    mnrl = MultipleNegativesRankingLoss(model)

    def loss(batch: list[list[Example]]):
        columns = ([p.question for p, _ in batch], [p.passage for p, _ in batch], [n.passage for _, n in batch])
        features = [model.tokenize(list(texts)) for texts in columns]
        return mnrl(features, None)

    result = run(model, loss, triplets(groups), config, out)
    model.max_seq_length = 256  # served as the embedder was: the same limit
    model.save(str(out / "model"))
    return result


def scorer(model_path: str):
    """(question, passages) -> cosines, by the fine-tuned model."""
    from sentence_transformers import SentenceTransformer

    from .evaluate import PerText

    model = SentenceTransformer(model_path, device="cpu")
    vectors = PerText(lambda texts: list(model.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                                      batch_size=64)))

    def score(question: str, passages: Sequence[str]) -> list[float]:
        import numpy as np

        return (np.stack(vectors(list(passages))) @ vectors([question])[0]).tolist()

    return score
