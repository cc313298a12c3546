"""A learned late-interaction scorer over the word vectors the serving model already computes.

ColBERT's MaxSim: each question word meets its most similar passage word. Here the encoder
stays frozen (its word vectors are the ones serving computes for the relevance signals, so the
scorer costs a few small matrix products), and three things are learned on top:

- a projection of the word vectors (384 x 384, from the identity), so "cost" can meet "$";
- each question word's weight, from its vector and its English rarity (wordfreq), so the ask
  counts and "hi" does not;
- how the matches add up: their weighted mean and a soft minimum (the worst-covered word, soft),
  into one logit.

Same data and loss as the cross-encoder (pointwise plus listwise).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from assistant.answer.learned import SOFTMIN_SHARPNESS

from .data import Example

DIMENSION = 384


@dataclass(frozen=True)
class LateWeights:
    """What serving needs (assistant.answer.learned.LateInteractionModel reads the file): plain
    arrays, no torch."""

    projection: np.ndarray  # (DIMENSION, DIMENSION)
    word: np.ndarray  # (DIMENSION,): a word's weight from its vector ...
    rarity: float  # ... and from its information (7 - Zipf)
    word_bias: float
    mean_weight: float
    worst_weight: float
    bias: float
    embedding_model: str = ""  # whose word vectors it was trained on (Embedder.name): it fits no other

    def save(self, path: Path) -> None:
        np.savez(path, projection=self.projection, word=self.word,
                 scalars=np.array([self.rarity, self.word_bias, self.mean_weight, self.worst_weight, self.bias]),
                 embedding_model=np.array(self.embedding_model))


def build_module():
    import torch

    class Late(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.projection = torch.nn.Parameter(torch.eye(DIMENSION))
            self.word = torch.nn.Parameter(torch.zeros(DIMENSION))
            self.rarity = torch.nn.Parameter(torch.tensor(0.5))
            self.word_bias = torch.nn.Parameter(torch.tensor(0.0))
            self.mean_weight = torch.nn.Parameter(torch.tensor(5.0))
            self.worst_weight = torch.nn.Parameter(torch.tensor(5.0))
            self.bias = torch.nn.Parameter(torch.tensor(-5.0))

        def forward(self, question, rarity, passage):
            q = torch.nn.functional.normalize(question @ self.projection, dim=-1)
            p = torch.nn.functional.normalize(passage @ self.projection, dim=-1)
            best = (q @ p.T).max(dim=1).values
            w = torch.nn.functional.softplus(question @ self.word + self.rarity * rarity + self.word_bias)
            share = w / w.sum().clamp(min=1e-6)
            mean = (share * best).sum()
            worst = -torch.log((share * torch.exp(-SOFTMIN_SHARPNESS * best)).sum().clamp(min=1e-30)) / SOFTMIN_SHARPNESS
            return self.mean_weight * mean + self.worst_weight * worst + self.bias

        def weights(self) -> LateWeights:
            d = {k: v.detach().numpy().astype(np.float32) for k, v in self.named_parameters()}
            return LateWeights(d["projection"], d["word"], float(d["rarity"]), float(d["word_bias"]),
                               float(d["mean_weight"]), float(d["worst_weight"]), float(d["bias"]))

    return Late()


class WordCache:
    """Each text's word vectors from the frozen serving model, and each question word's rarity;
    kept in a file beside the run, so a second run (other settings, more steps) skips the encoder."""

    def __init__(self, embedder, path: Path | None = None) -> None:
        import pickle

        self.embedder, self.path = embedder, path
        self.vectors: dict[str, np.ndarray] = {}
        self.rarity: dict[str, np.ndarray] = {}
        if path is not None and path.exists():
            with path.open("rb") as f:
                self.vectors, self.rarity = pickle.load(f)

    def save(self) -> None:
        import pickle

        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump((self.vectors, self.rarity), f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(self.path)

    def fill(self, texts: Sequence[str], questions: Sequence[str] = (), batch: int = 256, progress: bool = True) -> None:
        from tqdm import tqdm

        from assistant.text import information

        missing = sorted({t for t in texts if t not in self.vectors})
        for start in tqdm(range(0, len(missing), batch), disable=not progress, unit="batch", desc="word vectors"):
            part = missing[start:start + batch]
            for text, wv in zip(part, self.embedder.embed_words(part)):
                self.vectors[text] = wv.vectors.astype(np.float16)
                if text in questions or not questions:
                    self.rarity[text] = np.array([information(w) for w in wv.words], dtype=np.float32)
        for text in questions:  # a question met before as a passage has its vectors but not its rarity
            if text not in self.rarity and text in self.vectors:
                self.rarity[text] = np.array([information(w) for w in self.embedder.embed_words([text])[0].words],
                                             dtype=np.float32)


def loss_function(module, cache: WordCache, listwise_weight: float = 1.0):
    import torch
    import torch.nn.functional as F

    def tensor(text: str):
        return torch.from_numpy(cache.vectors[text].astype(np.float32))

    def loss(batch: list[list[Example]]):
        logits, labels, listwise, counted = [], [], 0.0, 0
        for group in batch:
            q, r = tensor(group[0].question), torch.from_numpy(cache.rarity[group[0].question])
            own = torch.stack([module(q, r, tensor(e.passage)) for e in group])
            own_labels = torch.tensor([float(e.label) for e in group])
            logits.append(own)
            labels.append(own_labels)
            if own_labels.sum() > 0 and len(group) > 1:
                listwise = listwise - (torch.logsumexp(own[own_labels > 0], 0) - torch.logsumexp(own, 0))
                counted += 1
        total = F.binary_cross_entropy_with_logits(torch.cat(logits), torch.cat(labels))
        return total + listwise_weight * listwise / max(counted, 1)

    return loss


def usable(groups: list[list[Example]], cache: WordCache) -> list[list[Example]]:
    """Groups whose question and passages all have words (an empty text cannot be matched)."""
    out = []
    for group in groups:
        kept = [e for e in group if len(cache.vectors.get(e.passage, ())) > 0]
        if kept and len(cache.vectors.get(group[0].question, ())) > 0:
            out.append(kept)
    return out


def train(model_path: str, groups: list[list[Example]], config, out: Path, max_groups: int = 24_000) -> dict:
    import random

    from assistant.embeddings import SentenceTransformerEmbedder

    from .loop import seed_everything, train as run

    seed_everything(config.seed)
    groups = random.Random(config.seed).sample(groups, min(max_groups, len(groups)))
    out.mkdir(parents=True, exist_ok=True)
    cache = WordCache(SentenceTransformerEmbedder(model_path), out / "word-vectors.pkl")
    questions = {g[0].question for g in groups}
    cache.fill([e.passage for g in groups for e in g] + sorted(questions), questions)
    cache.save()
    module = build_module()
    result = run(module, loss_function(module, cache), usable(groups, cache), config, out)
    (out / "model").mkdir(parents=True, exist_ok=True)
    replace(module.weights(), embedding_model=cache.embedder.name).save(out / "model" / "late.npz")
    return result


def scorer(weights_path: Path, embedder):
    """(question, passages) -> logits, with the frozen serving model's word vectors."""
    from assistant.text import information

    from assistant.answer.learned import LateInteractionModel

    from .evaluate import PerText

    model = LateInteractionModel(weights_path)  # exactly what serving runs
    words = PerText(embedder.embed_words)

    def score(question: str, passages: Sequence[str]) -> list[float]:
        q = words([question])[0]
        rarity = np.array([information(w) for w in q.words], dtype=np.float32)
        return model.scores(q.vectors, rarity, [model.project(p.vectors) for p in words(list(passages))]).tolist()

    return score
