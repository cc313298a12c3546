"""Staff-only documents: the audience in sources.toml reaches the chunk and unit metadata, public
retrieval never returns them, staff retrieval does, and changing only the audience or the title
re-processes the file without re-embedding what did not change. Fake embedder, real Chroma folder."""

from __future__ import annotations

import pytest

from assistant.answer.retrieval import HybridRetriever, IndexReader
from assistant.index import ChromaIndex, open_client
from assistant.ingest.ingestion import run_ingest
from assistant.ingest.loading import PUBLIC, STAFF

NOTE = "staff-fees.txt"
TEXT = ("Front desk notes on fees\n\n"
        "A missed appointment without notice is charged a cancellation fee of forty pounds, which the manager "
        "may waive once per patient per year.\n\n"
        "Staff read the waiver script to the patient before the fee is taken at the desk.\n")
QUERY = "cancellation fee waiver for a missed appointment"


@pytest.fixture
def index(settings):
    return ChromaIndex(open_client(settings), settings.collection)


def _set_entry(settings, **values):
    path = settings.corpus_dir / "sources.toml"
    lines = [f'{k} = "{v}"' for k, v in values.items()]
    path.write_text(path.read_text(encoding="utf-8") + f'\n["{NOTE}"]\n' + "\n".join(lines) + "\n", encoding="utf-8")


def _search(settings, index, embedder, audience):
    reader = IndexReader(index, settings, embedder, refresh_seconds=0)
    retriever = HybridRetriever(snapshots=reader.current, embedder=embedder, k=4)
    return [d.metadata["source"] for d in retriever.search(QUERY, 4, audience)], reader.current()


def test_staff_documents_are_found_by_staff_only(settings, fake_embedder, index):
    (settings.corpus_dir / NOTE).write_text(TEXT, encoding="utf-8")
    _set_entry(settings, audience="staff")
    run_ingest(settings, fake_embedder, index, progress=False)

    staff, snapshot = _search(settings, index, fake_embedder, STAFF)
    public, _ = _search(settings, index, fake_embedder, PUBLIC)
    assert staff[0] == NOTE
    assert NOTE not in public and public  # the public still gets the public documents
    assert {m["audience"] for m in snapshot.meta.values() if m["source"] == NOTE} == {STAFF}
    vector = fake_embedder.embed_query(QUERY)
    public_units = snapshot.nearest_units(vector, 50, PUBLIC)
    staff_chunks = {cid for cid, m in snapshot.meta.items() if m["source"] == NOTE}
    assert public_units and not {u.chunk_id for u in public_units} & staff_chunks
    assert {u.chunk_id for u in snapshot.nearest_units(vector, 5, STAFF)} & staff_chunks


def test_changing_only_the_audience_reindexes_without_embedding(settings, fake_embedder, index):
    (settings.corpus_dir / NOTE).write_text(TEXT, encoding="utf-8")
    run_ingest(settings, fake_embedder, index, progress=False)
    assert NOTE in _search(settings, index, fake_embedder, PUBLIC)[0]  # public by default

    _set_entry(settings, audience="staff")
    report = run_ingest(settings, fake_embedder, index, progress=False)
    assert not report.up_to_date and report.texts_embedded == 0  # same passages, same vectors
    assert NOTE not in _search(settings, index, fake_embedder, PUBLIC)[0]
    units = index.read_all(index.collections(index.active_build().build)[1], include_embeddings=False)
    assert {m["audience"] for m in units.metadatas if m["chunk_id"] in
            {cid for cid, m in _search(settings, index, fake_embedder, STAFF)[1].meta.items()
             if m["source"] == NOTE}} == {STAFF}


def test_a_new_title_re_embeds_the_files_passages(settings, fake_embedder, index):
    (settings.corpus_dir / NOTE).write_text(TEXT, encoding="utf-8")
    run_ingest(settings, fake_embedder, index, progress=False)
    _set_entry(settings, title="Fees and waivers")
    report = run_ingest(settings, fake_embedder, index, progress=False)
    # The title is part of each passage's embedded text, so only this file's passages are re-embedded.
    assert 0 < report.chunks_added == report.chunks_removed and report.texts_embedded > 0
    _, snapshot = _search(settings, index, fake_embedder, STAFF)
    assert {m["title"] for m in snapshot.meta.values() if m["source"] == NOTE} == {"Fees and waivers"}


def test_an_unknown_audience_is_refused_not_guessed(settings, fake_embedder, index):
    (settings.corpus_dir / NOTE).write_text(TEXT, encoding="utf-8")
    _set_entry(settings, audience="internal")
    report = run_ingest(settings, fake_embedder, index, progress=False)
    assert report.skipped == [(NOTE, "audience 'internal' in sources.toml must be public or staff")]
