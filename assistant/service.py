"""Wires the stages into one object that the CLI, the web app and the tests share."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Sequence

from langchain_core.documents import Document
from langchain_core.runnables import Runnable

from .answer.answering import Answer, ExtractiveComposer
from .answer.chain import Steps, build_chain
from .embeddings import Embedder, get_serving_embedder
from .errors import AssistantError, IndexUnreachableError
from .answer.generation import LLMComposer, make_chat_model, make_condenser
from .answer.guards import LEARNED_CRISIS, LEARNED_WARNING, CrisisDetector, UrgentDetector, UrgentModel, load_learned
from .index import ChromaIndex, open_client
from .ingest.loading import PUBLIC
from .answer.learned import LateInteractionModel
from .answer.relevance import RelevanceModel, RelevanceScorer
from .answer.retrieval import HybridRetriever, IndexReader
from .settings import Settings


# Up to this many units, the app computes every unit's word vectors at start (about 2 ms a
# unit on two cores) so no visitor waits for them; past it they are computed as questions need them.
WARM_UNITS = 5_000


@dataclass
class Assistant:
    settings: Settings
    embedder: Embedder
    index: ChromaIndex
    reader: IndexReader
    retriever: HybridRetriever
    steps: Steps
    chain: Runnable

    def ask(self, question: str, history: Sequence | None = None, audience: str = PUBLIC) -> Answer:
        """``audience`` "staff" (front desk, staff API) may use staff-only documents; "public" may not."""
        started = time.perf_counter()
        answer: Answer = self._on_current_build(
            lambda: self.chain.invoke({"question": question, "history": list(history or []), "audience": audience}))
        return replace(answer, latency_ms=(time.perf_counter() - started) * 1000)

    def lookup(self, query: str, k: int | None = None, audience: str = PUBLIC) -> list[Document]:
        return self._on_current_build(lambda: self.retriever.search(query, k or self.settings.top_k, audience))

    def _on_current_build(self, run):
        build = self.reader.current().info.build  # the build this run reads (or an older one)
        try:
            return run()
        except AssistantError:
            raise
        except Exception as exc:  # noqa: BLE001 - the store failed mid-read: which way, is decided below
            failed = exc
        # Two re-ingests in quick succession can delete the build a snapshot still reads from:
        # then the pointer names a newer build, and the question is asked once more there.
        # Otherwise the store itself failed (a server down or hung past INDEX_TIMEOUT).
        self.reader.refresh()
        if self.reader.current().info.build == build:
            raise IndexUnreachableError(f"the index store failed while answering: "
                                        f"{failed.__class__.__name__}: {failed}") from None
        return run()

    def status(self) -> dict:
        """What is served, and whether the index can be read now (``index_error`` says why not:
        answers then come from the build loaded before, when there is one)."""
        self.reader.refresh()
        try:
            snapshot = self.reader.current()
        except AssistantError as exc:
            return {"ready": False, "serving": False, "chunks": 0, "files": 0, "embedding_model": self.embedder.name,
                    "ingested_at": None, "index_error": str(exc)}
        info = snapshot.info
        return {"ready": not self.reader.problem, "serving": True, "chunks": info.chunks, "sentences": info.units,
                "files": info.files, "embedding_model": info.embedding_model, "ingested_at": info.ingested_at,
                "build": info.build, "index_error": self.reader.problem}

    def warm_up(self) -> None:
        """Load the model and open the index now, so the first visitor does not wait."""
        self.embedder.warm_up()
        snapshot = self.reader.current()
        self.embedder.embed_query("warm up")
        if snapshot.info.units <= WARM_UNITS:
            units = snapshot.all_units()
            self.steps.scorer.warm([u.id for u in units], [snapshot.unit_text(u) for u in units])


def learned_model(settings: Settings, embedder: Embedder) -> LateInteractionModel | None:
    """The learned relevance model, when one is shipped for this embedding model: it reads that
    model's word vectors and fits no other (a test's fake embedder, another EMBEDDING_MODEL)."""
    if not settings.relevance_model.exists():
        return None
    model = LateInteractionModel(settings.relevance_model)
    return model if model.fits(embedder.name) else None


def build_assistant(settings: Settings, embedder: Embedder | None = None, client=None, chat_model=None) -> Assistant:
    """Wire every stage; ``chat_model`` overrides the LLM_* settings (tests pass fake models)."""
    embedder = embedder or get_serving_embedder(settings)
    if client is None:
        index = ChromaIndex(open_client(settings), settings.collection, opener=lambda: open_client(settings, fresh=True))
    else:
        index = ChromaIndex(client, settings.collection)
    reader = IndexReader(index, settings, embedder)
    retriever = HybridRetriever(snapshots=reader.current, embedder=embedder, k=settings.top_k,
                                candidate_k=settings.candidate_k, rrf_k=settings.rrf_k)
    scorer = RelevanceScorer(embedder, RelevanceModel.load(settings.calibration_file),
                             learned=learned_model(settings, embedder))
    urgent = UrgentDetector(embedder, UrgentModel.load(settings.calibration_file), load_learned(LEARNED_WARNING))
    crisis = CrisisDetector(embedder, UrgentModel.load(settings.calibration_file, "crisis"), load_learned(LEARNED_CRISIS))
    composer = extractive = ExtractiveComposer(max_units=settings.max_answer_sentences)
    condenser = None
    model = chat_model if chat_model is not None else make_chat_model(settings)
    if model is not None:
        composer = LLMComposer(model, extractive, timeout=settings.llm_timeout, topic=settings.topic)
        condenser = make_condenser(model, timeout=settings.llm_timeout)
    steps = Steps(retriever, reader.current, embedder, composer, scorer, urgent,
                  max_question_chars=settings.max_question_chars, topic=settings.topic, condenser=condenser,
                  closest=extractive.closest, crisis=crisis, crisis_contact=settings.crisis_contact)
    return Assistant(settings, embedder, index, reader, retriever, steps, build_chain(steps))
