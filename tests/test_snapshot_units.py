"""A small build's units held in the snapshot: the same units, in the same order, as asking Chroma
for them, and an answer then asks Chroma only for the nearest ids. Fake embedder, real Chroma folder."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from assistant.answer.retrieval import IndexReader
from assistant.index import ChromaIndex, open_client
from assistant.ingest.ingestion import run_ingest
from assistant.ingest.loading import PUBLIC, STAFF
from assistant.service import build_assistant

STAFF_NOTE = ("Front desk notes on fees\n\n"
              "A missed appointment without notice is charged a cancellation fee of forty pounds.\n\n"
              "Staff read the waiver script to the patient before the fee is taken at the desk.\n")


@pytest.fixture
def ingested(settings, fake_embedder):
    (settings.corpus_dir / "staff-fees.txt").write_text(STAFF_NOTE, encoding="utf-8")
    with (settings.corpus_dir / "sources.toml").open("a", encoding="utf-8") as f:
        f.write('\n["staff-fees.txt"]\naudience = "staff"\n')
    index = ChromaIndex(open_client(settings), settings.collection)
    run_ingest(settings, fake_embedder, index, progress=False)
    return index


def _snapshot(settings, index, embedder, units_in_memory):
    return IndexReader(index, replace(settings, units_in_memory=units_in_memory), embedder).current()


def _same(a, b):
    assert [u.id for u in a] == [u.id for u in b]
    for x, y in zip(a, b):
        assert (x.chunk_id, x.text, x.context) == (y.chunk_id, y.text, y.context)
        assert np.array_equal(x.vector, y.vector)


def test_units_held_in_memory_are_what_chroma_returns(settings, fake_embedder, ingested):
    held = _snapshot(settings, ingested, fake_embedder, 5_000)
    asked = _snapshot(settings, ingested, fake_embedder, 0)
    assert held._units is not None and asked._units is None
    _same(held.all_units(), asked.all_units())
    ids = held.chunk_ids
    rng = np.random.default_rng(0)
    for size in (1, 2, 4, 7, len(ids)):
        chosen = [ids[i] for i in rng.choice(len(ids), size=min(size, len(ids)), replace=False)]
        _same(held.units_for(chosen), asked.units_for(chosen))
    assert held.units_for(["no-such-chunk"]) == asked.units_for(["no-such-chunk"]) == []
    for question in ("how long do results last", "cancellation fee waiver", "does it hurt", "zzz"):
        vector = fake_embedder.embed_query(question)
        for audience in (PUBLIC, STAFF):
            _same(held.nearest_units(vector, 16, audience), asked.nearest_units(vector, 16, audience))
    staff_chunks = {cid for cid, m in held.meta.items() if m.get("audience") == STAFF}
    vector = fake_embedder.embed_query("cancellation fee waiver")
    assert staff_chunks and not {u.chunk_id for u in held.nearest_units(vector, 50, PUBLIC)} & staff_chunks


def test_a_build_over_the_limit_is_asked_of_chroma(settings, fake_embedder, ingested):
    units = ingested.active_build().units
    assert _snapshot(settings, ingested, fake_embedder, units)._units is not None
    assert _snapshot(settings, ingested, fake_embedder, units - 1)._units is None


class _Recording:
    """A Chroma collection that notes what it is asked."""

    def __init__(self, inner, calls):
        self.inner, self.calls = inner, calls

    def get(self, **kwargs):
        self.calls.append(("get", kwargs.get("include")))
        return self.inner.get(**kwargs)

    def query(self, **kwargs):
        self.calls.append(("query", kwargs.get("include")))
        return self.inner.query(**kwargs)


@pytest.mark.parametrize("units_in_memory, expected", [
    (5_000, [("query", [])]),
    (0, [("get", ["documents", "metadatas", "embeddings"]), ("query", ["documents", "metadatas", "embeddings"])]),
])
def test_an_answer_asks_chroma_for_ids_only_when_units_are_held(settings, fake_embedder, ingested,
                                                                units_in_memory, expected):
    assistant = build_assistant(replace(settings, units_in_memory=units_in_memory), embedder=fake_embedder)
    snapshot = assistant.reader.current()
    calls = []
    snapshot.units = _Recording(snapshot.units, calls)
    answer = assistant.ask("How long do the results of microneedling last?")
    assert answer.status == "answered"
    assert calls == expected
