"""The learned relevance model: a cross-encoder that reads a question and a unit together.

Trained by ``python -m training`` on open question-answer data (models/relevance/MODEL_CARD.md)
and served, like the embedder, by ONNX Runtime with the model's own tokenizer: no torch. It
scores only the few candidates the four embedding signals rank highest (``RERANK``), because a
cross-encoder reads every pair anew: about 4 ms a pair on one core here.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ModelLoadError

MODEL_DIR = Path(__file__).resolve().parent.parent.parent / "models" / "relevance"


class CrossEncoderModel:
    """(question, passages) -> one logit a passage. Loads lazily, once; thread-safe."""

    def __init__(self, folder: Path = MODEL_DIR, model_file: str = "model.onnx", tokenizer_file: str = "tokenizer.json",
                 threads: int = 1) -> None:
        self.folder, self.model_file, self.tokenizer_file = Path(folder), model_file, tokenizer_file
        self.threads = threads
        self._loaded = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        self._get()

    def _get(self):
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    def _load(self):
        import onnxruntime
        from tokenizers import Tokenizer

        try:
            config = json.loads((self.folder / "config.json").read_text()) if (self.folder / "config.json").exists() else {}
            tokenizer = Tokenizer.from_file(str(self.folder / self.tokenizer_file))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.log_severity_level = 3
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL  # optimised at export
            session = onnxruntime.InferenceSession(str(self.folder / self.model_file), options,
                                                   providers=["CPUExecutionProvider"])
        except Exception as exc:  # a missing or corrupt file: say which and how to get it back
            raise ModelLoadError(f"could not load the relevance model {self.folder.name}/{self.model_file} "
                                 f"({type(exc).__name__}): restore models/relevance from git, or rebuild it with "
                                 "`python -m training export` (models/relevance/MODEL_CARD.md).") from None
        tokenizer.enable_truncation(max_length=int(config.get("max_length", 128)), strategy="only_second")
        tokenizer.enable_padding()
        return tokenizer, session

    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        if not len(passages):
            return np.zeros(0, dtype=np.float32)
        tokenizer, session = self._get()
        encodings = tokenizer.encode_batch([(question, p) for p in passages])
        feed = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
        return session.run(None, feed)[0].astype(np.float32).reshape(-1)
