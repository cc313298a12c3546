"""Shared fixtures: a deterministic fake embedder for fast tests, the real model for integration."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from assistant.embeddings import Embedder, WordVectors
from assistant.settings import PROJECT_ROOT, Settings
from assistant.text import content_words, stem, words
from evals.system import free_port  # noqa: F401 - tests import it from here

CORPUS = PROJECT_ROOT / "corpus"


class HashingEmbedder(Embedder):
    """Bag of stemmed words hashed into 512 dimensions: similarity is word overlap, exactly
    repeatable, and needs no model. Stands in for the real model in fast unit tests."""

    name = "fake-hashing-512"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.texts_embedded = 0

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), 512), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in content_words(text):
                out[row, _slot(word)] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out

    def embed_words(self, texts: Sequence[str]) -> list[WordVectors]:
        """Each word a one-hot vector of its stem: two words align exactly when they share it."""
        result = []
        for text in texts:
            found = words(text)
            vectors = np.zeros((len(found), WORD_SLOTS), dtype=np.float32)
            for row, word in enumerate(found):
                vectors[row, _slot(word, WORD_SLOTS)] = 1.0
            result.append(WordVectors(tuple(found), vectors))
        return result


# Word vectors are only compared with each other: a wide space keeps two stems from colliding.
WORD_SLOTS = 2048


def _slot(word: str, slots: int = 512) -> int:
    return int(hashlib.md5(stem(word).encode()).hexdigest()[:8], 16) % slots


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private copy of the real corpus that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, corpus_copy: Path) -> Settings:
    # Word-overlap similarity runs lower than the model's, so the off-topic bar is lower too.
    return Settings.from_env({}, corpus_dir=corpus_copy, data_dir=tmp_path / "data")


# --- integration: the real model and a real Chroma index, built once per store and session ---

@contextlib.contextmanager
def chroma_server_process(folder: Path):
    """A real Chroma server (`chroma run` from the chromadb package) on loopback; yields
    {"host", "port", "process"}."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen([str(chroma), "run", "--path", str(folder / "data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env=os.environ | {"ANONYMIZED_TELEMETRY": "False"})
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"chroma run did not start; see {folder / 'server.log'}")
            time.sleep(0.2)
    try:
        yield {"host": "127.0.0.1", "port": port, "process": proc}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    with chroma_server_process(tmp_path_factory.mktemp("chroma-server")) as server:
        yield server


@pytest.fixture(scope="session", params=["embedded", "server"])
def real_settings(request, tmp_path_factory) -> Settings:
    """Integration tests run twice: on the embedded folder store and on a Chroma server."""
    data = tmp_path_factory.mktemp("real-data")
    settings = Settings.from_env({}, corpus_dir=CORPUS, data_dir=data)
    if request.param == "server":
        server = request.getfixturevalue("chroma_server")
        settings = replace(settings, chroma_host=server["host"], chroma_port=server["port"])
    return settings


@pytest.fixture(scope="session")
def real_embedder(real_settings):
    from assistant.embeddings import get_embedder

    embedder = get_embedder(real_settings)
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="session")
def real_index_report(real_settings, real_embedder):
    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest

    index = ChromaIndex(open_client(real_settings), real_settings.collection)
    return run_ingest(real_settings, real_embedder, index, explain=True, progress=False)


@pytest.fixture(scope="session")
def real_assistant(real_settings, real_embedder, real_index_report):
    from assistant.service import build_assistant

    return build_assistant(real_settings, embedder=real_embedder)


def corpus_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt")))


def quote_in_corpus(quote: str, text: str) -> bool:
    """Whether every piece of a quote stands in the corpus: its context and its text (joined by
    the ellipsis), list items ('; '), table cells (' · ') and their headers (': '). White space is
    compared collapsed, since wrapped lines are joined."""
    from assistant.ingest.cleaning import CONTEXT_JOINER
    from assistant.ingest.structure import CELL_SEPARATOR

    flat = " ".join(text.split())
    if " ".join(quote.split()) in flat:
        return True
    pieces = [quote]
    for sep in (CONTEXT_JOINER, "; ", CELL_SEPARATOR, ": "):
        pieces = [p for piece in pieces for p in piece.split(sep)]
    return all(" ".join(p.split()) in flat for p in pieces if p.strip())


def quotes_with_markers(citations) -> str:
    """What an extractive answer must be, word for word: each citation's quote followed by its
    marker, in order, and nothing else; except that a quote under the same lead-in or heading as
    the quote just before it leaves that context out, since it was written once already. Checks
    on the way that each quote is exactly its context, the ellipsis and its own words."""
    from assistant.ingest.cleaning import CONTEXT_JOINER

    parts, shown = [], ""
    for c in citations:
        assert c.quote == (f"{c.context}{CONTEXT_JOINER}{c.text}" if c.context else c.text), c
        parts.append(f"{c.text if c.context and c.context == shown else c.quote} [{c.n}]")
        shown = c.context
    return " ".join(parts)
