"""Hybrid retrieval: dense (Chroma, cosine) and BM25, fused by reciprocal rank, as a LangChain retriever."""

from __future__ import annotations

import difflib
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from ..ingest.cleaning import CONTEXT_JOINER, unit_embedding_text
from ..ingest.loading import PUBLIC, STAFF
from ..embeddings import Embedder
from ..errors import IndexNotReadyError, IndexUnreachableError
from ..index import BuildInfo, ChromaIndex, index_file
from ..settings import Settings
from ..text import content_words, is_word, stem, zipf


log = logging.getLogger(__name__)


def bm25_tokens(text: str) -> list[str]:
    return [stem(w) for w in content_words(text)]


class Vocabulary:
    """The corpus's words, to correct what a patient mistyped."""

    def __init__(self, texts: list[str], real_word_margin: float | None = None) -> None:
        # With a margin, a real English word that is that many Zipf points rarer than a close
        # vocabulary word is read as that word mistyped (the noisy channel's prior: "fevre", 1.65,
        # is "fever", 4.22); without one, real words are never rewritten.
        self.real_word_margin = real_word_margin
        self.words: set[str] = set()
        for text in texts:
            self.words.update(content_words(text))
        self._by_initial: dict[str, list[str]] = {}
        for w in sorted(self.words):
            self._by_initial.setdefault(w[0], []).append(w)

    def correct(self, word: str) -> str:
        """The closest corpus word for a word English does not have ("accutain", "microneedeling");
        a real word is not rewritten, even when the corpus spells a neighbour ("plane", "derma"),
        unless it is ``real_word_margin`` rarer than that neighbour."""
        if word in self.words or len(word) < 4:
            return word
        real = is_word(word)
        if real and self.real_word_margin is None:
            return word
        match = difflib.get_close_matches(word, self._by_initial.get(word[0], []), n=1, cutoff=0.8)
        if not match or (real and zipf(match[0]) - zipf(word) < self.real_word_margin):
            return word
        return match[0]

    def correct_text(self, text: str) -> str:
        """The text with each misspelled word replaced by the corpus word it most likely means."""
        def fix(match: re.Match) -> str:
            word = match.group(0)
            corrected = self.correct(word.lower())
            return word if corrected == word.lower() else corrected
        return re.sub(r"[A-Za-z]{4,}", fix, text)


@dataclass(frozen=True)
class UnitRecord:
    id: str
    chunk_id: str
    text: str
    vector: np.ndarray
    context: str = ""  # the lead-in or heading quoted with the unit

    @property
    def quote(self) -> str:
        return f"{self.context}{CONTEXT_JOINER}{self.text}" if self.context else self.text


class Snapshot:
    """One published build, opened for reading: its collections, BM25 index and vocabulary."""

    def __init__(self, index: ChromaIndex, info: BuildInfo, units_in_memory: int = 0) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.ERROR)  # it logs every index build
        self.info = info
        self.chunks, self.units = index.collections(info.build)
        records = index.read_all(self.chunks, include_embeddings=False)
        self.chunk_ids = records.ids
        self.meta = {cid: meta | {"text": doc} for cid, meta, doc in zip(records.ids, records.metadatas, records.documents)}
        texts = [m.get("embedding_text") or doc for m, doc in zip(records.metadatas, records.documents)]
        self.vocabulary = Vocabulary(texts)
        tokens = [bm25_tokens(t) for t in texts]
        self.bm25 = bm25s.BM25()
        self.bm25.index([t or ["\x00empty"] for t in tokens], show_progress=False)
        # Staff-only chunks, left out of every public search. A build made before audiences
        # existed has none (its chunks carry no audience), so it needs no filter.
        self.staff_only = np.array([m.get("audience") == STAFF for m in records.metadatas], dtype=bool)
        self._df: dict[str, int] = {}
        for row in tokens:
            for token in set(row):
                self._df[token] = self._df.get(token, 0) + 1
        # A build of up to units_in_memory units is held whole (Settings.units_in_memory): an
        # answer then asks Chroma for the nearest units' ids only, and reads the units of its
        # chunks from here instead of a `get`. In Chroma's own order, which `get` also keeps.
        self._units: list[UnitRecord] | None = None
        if 0 < info.units <= units_in_memory:
            got = index.read_all(self.units)
            self._units = _unit_records(got.ids, got.documents, got.metadatas, got.embeddings)
            self._unit_at = {u.id: at for at, u in enumerate(self._units)}
            self._units_of: dict[str, list[UnitRecord]] = {}
            for unit in self._units:
                self._units_of.setdefault(unit.chunk_id, []).append(unit)

    def specificity(self, word: str) -> float:
        """How well a word tells this corpus's passages apart, 0..1 (a normalised inverse document
        frequency): the clinic's topic word, in every passage, says little about which one answers;
        a word no passage uses counts fully, since it must still be answered."""
        n = len(self.chunk_ids)
        df = self._df.get(stem(word), 0)
        if df == 0 or n == 0:
            return 1.0
        return math.log(1 + n / df) / math.log(1 + n)

    def _where(self, audience: str) -> dict | None:
        """The Chroma filter for an audience: staff see everything, the public only public passages."""
        if audience == STAFF or not self.staff_only.any():
            return None
        return {"audience": PUBLIC}

    def dense(self, vector: np.ndarray, k: int, audience: str = PUBLIC) -> list[tuple[str, float]]:
        visible = len(self.chunk_ids) - (0 if audience == STAFF else int(self.staff_only.sum()))
        n = min(k, visible)
        if n <= 0:
            return []
        got = self.chunks.query(query_embeddings=[vector.tolist()], n_results=n, include=["distances"],
                                where=self._where(audience))
        return [(cid, 1.0 - float(d)) for cid, d in zip(got["ids"][0], got["distances"][0])]

    def sparse(self, tokens: list[str], k: int, audience: str = PUBLIC) -> list[tuple[str, float]]:
        known = [t for t in tokens if t in self.bm25.vocab_dict]
        if not known:
            return []
        scores = self.bm25.get_scores(known)
        if audience != STAFF and self.staff_only.any():
            scores = np.where(self.staff_only, 0.0, scores)
        n = min(k, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [(self.chunk_ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def units_for(self, chunk_ids: list[str]) -> list[UnitRecord]:
        """Every sentence of the given chunks."""
        if not chunk_ids:
            return []
        if self._units is not None:
            found = [u for cid in set(chunk_ids) for u in self._units_of.get(cid, ())]
            return sorted(found, key=lambda u: self._unit_at[u.id])
        got = self.units.get(where={"chunk_id": {"$in": list(chunk_ids)}}, include=["documents", "metadatas", "embeddings"])
        return _unit_records(got["ids"], got["documents"], got["metadatas"], got["embeddings"])

    def all_units(self) -> list[UnitRecord]:
        if self._units is not None:
            return list(self._units)
        got = self.units.get(include=["documents", "metadatas", "embeddings"])
        return _unit_records(got["ids"], got["documents"], got["metadatas"], got["embeddings"])

    def nearest_units(self, vector: np.ndarray, k: int, audience: str = PUBLIC) -> list[UnitRecord]:
        """The sentences closest to the vector, whatever their chunk: a sentence that answers
        can sit in a chunk that, as a whole, ranks low (a conclusion touching many topics)."""
        where = self._where(audience)
        if where is not None and self.staff_only.all():
            return []
        if self._units is not None:
            got = self.units.query(query_embeddings=[vector.tolist()], n_results=k, include=[], where=where)
            return [self._units[self._unit_at[uid]] for uid in got["ids"][0]]
        got = self.units.query(query_embeddings=[vector.tolist()], n_results=k,
                               include=["documents", "metadatas", "embeddings"], where=where)
        return _unit_records(got["ids"][0], got["documents"][0], got["metadatas"][0], got["embeddings"][0])

    def unit_text(self, unit: UnitRecord) -> str:
        """What the unit's vector was made from: its section and its quote."""
        return unit_embedding_text(self.meta.get(unit.chunk_id, {}).get("section", ""), unit.quote)


def _unit_records(ids, documents, metadatas, embeddings) -> list[UnitRecord]:
    return [
        UnitRecord(uid, m["chunk_id"], doc, np.asarray(vec, dtype=np.float32), m.get("context") or "")
        for uid, doc, m, vec in zip(ids, documents, metadatas, embeddings)
    ]


class IndexReader:
    """Hands out the current snapshot, re-opening it when ingest publishes a new build.

    A snapshot is held in memory, so when the store fails or hangs (a Chroma server stopped, the
    folder deleted) questions are still answered from the last build loaded, while ``problem``
    says what is wrong for the health check. Only one thread looks at the store at a time; the
    others keep answering meanwhile instead of queueing behind a slow store.
    """

    def __init__(self, index: ChromaIndex, settings: Settings, embedder: Embedder, refresh_seconds: float = 2.0) -> None:
        self.index, self.settings, self.embedder = index, settings, embedder
        self.refresh_seconds = refresh_seconds
        self.problem = ""  # why the store could not be read at the last look, "" when it could
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._file = index_file(settings)
        self._file_id = _identity(self._file)

    def refresh(self) -> None:
        """Look at the pointer again on the next call (a build may have been deleted under us)."""
        self._checked = float("-inf")

    def current(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - self._checked < self.refresh_seconds:
            return snapshot
        # A routine look (every refresh_seconds) does not wait for another thread's; a look asked
        # for with refresh() (a new build was just published) or the first one does.
        wait = snapshot is None or self._checked == float("-inf")
        if not self._lock.acquire(timeout=self.settings.index_timeout if wait else 0):
            if snapshot is not None:
                return snapshot  # another thread is looking at the store
            raise IndexUnreachableError("the index is still being opened by another request: try again")
        try:
            try:
                self._snapshot = self._load()
                self.problem = ""
            except IndexNotReadyError as exc:
                if self._snapshot is None:
                    raise
                if self.problem != str(exc):
                    log.warning("%s; answering from the build loaded before (%s)", exc, self._snapshot.info.build)
                self.problem = str(exc)
            finally:
                self._checked = time.monotonic()
            return self._snapshot
        finally:
            self._lock.release()

    def _load(self) -> Snapshot:
        self._follow_the_folder()
        for attempt in range(3):
            info = self.index.require_active(self.settings)
            if self._snapshot is not None and self._snapshot.info.build == info.build:
                return self._snapshot
            if info.embedding_model != self.embedder.name:
                raise IndexNotReadyError(
                    f"the index was built with the embedding model {info.embedding_model!r} but "
                    f"{self.embedder.name!r} is configured: run `python ingest.py --rebuild`."
                )
            try:
                return Snapshot(self.index, info, self.settings.units_in_memory)
            except IndexNotReadyError:
                # Re-ingests in quick succession can delete the build we just read the
                # pointer for; the pointer then names a newer one. Give up only if it does not.
                latest = self.index.active_build()
                if attempt == 2 or latest is None or latest.build == info.build:
                    raise
        raise AssertionError("unreachable")

    def _follow_the_folder(self) -> None:
        """A folder index deleted, or deleted and built again, on disk: say so, or open the new one."""
        if self._file is None:
            return
        found = _identity(self._file)
        if found is None:
            raise IndexNotReadyError(f"the index folder {self._file.parent} is gone: run `python ingest.py`.")
        if found != self._file_id:
            self.index.reopen()
            self._file_id = found


def _identity(path) -> tuple[int, int] | None:
    try:
        stat = path.stat() if path is not None else None
    except FileNotFoundError:
        return None
    return (stat.st_dev, stat.st_ino) if stat else None


def reciprocal_rank_fusion(rankings: list[list[str]], k: int) -> dict[str, float]:
    """Sum of 1/(k + rank) over the rankings an item appears in (rank starts at 1)."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


class HybridRetriever(BaseRetriever):
    """Dense + BM25 candidates fused by reciprocal rank; documents carry title, section and scores."""

    snapshots: Callable[[], Snapshot]
    embedder: Embedder
    k: int = 4
    candidate_k: int = 20
    rrf_k: int = 60

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                audience: str = PUBLIC) -> list[Document]:
        return self.search(query, self.k, audience)

    def search(self, query: str, k: int, audience: str = PUBLIC) -> list[Document]:
        """The top ``k`` passages that ``audience`` ("public" or "staff") may be shown."""
        snapshot = self.snapshots()
        vector = self.embedder.embed_query(query)
        tokens = [stem(snapshot.vocabulary.correct(w)) for w in content_words(query)]
        dense = snapshot.dense(vector, self.candidate_k, audience)
        sparse = snapshot.sparse(tokens, self.candidate_k, audience)
        fused = reciprocal_rank_fusion([[c for c, _ in dense], [c for c, _ in sparse]], self.rrf_k)
        dense_score, sparse_score = dict(dense), dict(sparse)
        ranked = sorted(fused, key=lambda c: (-fused[c], -dense_score.get(c, -1.0)))[:k]
        docs = []
        for rank, cid in enumerate(ranked, start=1):
            meta = snapshot.meta[cid]
            docs.append(Document(
                page_content=meta["text"],
                metadata={
                    "chunk_id": cid, "rank": rank, "source": meta["source"], "title": meta["title"],
                    "section": meta["section"], "score": round(fused[cid], 6),
                    "dense": round(dense_score.get(cid, 0.0), 4), "bm25": round(sparse_score.get(cid, 0.0), 4),
                },
            ))
        return docs
