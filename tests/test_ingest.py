"""Ingest against a real Chroma folder on disk, with the fake embedder so embedding counts are exact."""

import pytest

from assistant.errors import IndexWriteError, CorpusError, IndexNotReadyError
from assistant.index import ChromaIndex, open_client
from assistant.ingest.ingestion import run_ingest


@pytest.fixture
def index(settings):
    return ChromaIndex(open_client(settings), settings.collection)


def _chunk_sources(index):
    info = index.active_build()
    chunks, _ = index.collections(info.build)
    return [m["source"] for m in index.read_all(chunks, include_embeddings=False).metadatas]


def test_first_ingest_builds_and_records_model_and_fingerprint(settings, fake_embedder, index):
    report = run_ingest(settings, fake_embedder, index, progress=False)
    info = index.active_build()
    assert report.files == 2 and report.chunks_added == info.chunks > 0
    assert report.lines_dropped > 0 and report.texts_embedded == info.chunks + info.units
    assert info.embedding_model == "fake-hashing-512" and len(info.corpus_fingerprint) == 16
    chunks, units = index.collections(info.build)
    assert chunks.count() == info.chunks and units.count() == info.units
    assert chunks.configuration_json["hnsw"]["space"] == "cosine"


def test_second_ingest_embeds_nothing(settings, fake_embedder, index):
    run_ingest(settings, fake_embedder, index, progress=False)
    build = index.active_build().build
    fake_embedder.calls = 0
    report = run_ingest(settings, fake_embedder, index, progress=False)
    assert report.up_to_date and report.texts_embedded == 0 and fake_embedder.calls == 0
    assert index.active_build().build == build


def test_changed_file_re_embeds_only_its_new_chunks(settings, fake_embedder, index):
    run_ingest(settings, fake_embedder, index, progress=False)
    before = index.active_build()
    path = settings.corpus_dir / "does-microneedling-last-permanently.txt"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "Proper aftercare is essential", "Careful aftercare is essential"), encoding="utf-8")
    fake_embedder.calls = 0
    report = run_ingest(settings, fake_embedder, index, progress=False)
    assert report.chunks_added == 1 and report.chunks_removed == 1
    assert report.chunks_unchanged == before.chunks - 1
    # One batch for the new chunk and its units; nothing else was embedded (cleaning embeds nothing).
    chunks, units = index.collections(index.active_build().build)
    new_id = next(i for i in chunks.get()["ids"] if i not in _ids(index, before.build))
    new_units = units.get(where={"chunk_id": new_id})["ids"]
    assert fake_embedder.calls == 1 and report.texts_embedded == 1 + len(new_units)


def _ids(index, build):
    return set(index.collections(build)[0].get()["ids"])


def test_removed_file_disappears_from_the_index(settings, fake_embedder, index):
    run_ingest(settings, fake_embedder, index, progress=False)
    (settings.corpus_dir / "microneedling-benefits-over-time.txt").unlink()
    report = run_ingest(settings, fake_embedder, index, progress=False)
    assert report.chunks_removed > 0 and report.texts_embedded == 0
    assert set(_chunk_sources(index)) == {"does-microneedling-last-permanently.txt"}


def test_rebuild_embeds_everything_again(settings, fake_embedder, index):
    first = run_ingest(settings, fake_embedder, index, progress=False)
    again = run_ingest(settings, fake_embedder, index, rebuild=True, progress=False)
    assert again.texts_embedded == first.texts_embedded and again.chunks_added == first.chunks_added


def test_only_the_active_and_previous_builds_are_kept(settings, fake_embedder, index):
    for _ in range(3):
        run_ingest(settings, fake_embedder, index, rebuild=True, progress=False)
    names = [c.name for c in index.client.list_collections()]
    assert sum(n.startswith("microneedling__chunks__") for n in names) == 2


def test_failed_write_leaves_the_old_build_active_and_no_debris(settings, fake_embedder, index, monkeypatch):
    run_ingest(settings, fake_embedder, index, progress=False)
    good = index.active_build()
    (settings.corpus_dir / "new.txt").write_text(
        "Microneedling aftercare means gentle cleansing and strict sun protection for a week.")

    def broken_activate(info):
        raise RuntimeError("disk full")  # a failure between writing the build and publishing it

    monkeypatch.setattr(index, "_activate", broken_activate)
    with pytest.raises(IndexWriteError, match="disk may be full.*index in use is unchanged"):
        run_ingest(settings, fake_embedder, index, progress=False)
    assert index.active_build() == good
    names = {c.name for c in index.client.list_collections()}
    assert names == {index.chunks_name(good.build), index.units_name(good.build), "microneedling__active"}


def test_empty_corpus_is_an_error_and_keeps_the_index(settings, fake_embedder, index):
    run_ingest(settings, fake_embedder, index, progress=False)
    good = index.active_build()
    for path in settings.corpus_dir.glob("*.txt"):
        path.unlink()
    (settings.corpus_dir / "notes.docx").write_bytes(b"PK")
    with pytest.raises(CorpusError, match="nothing to index.*current index is unchanged"):
        run_ingest(settings, fake_embedder, index, progress=False)
    assert index.active_build() == good


def test_index_built_with_another_model_is_refused(settings, fake_embedder, index):
    from assistant.answer.retrieval import IndexReader
    from tests.conftest import HashingEmbedder

    run_ingest(settings, fake_embedder, index, progress=False)
    other = HashingEmbedder()
    other.name = "another-model"
    with pytest.raises(IndexNotReadyError, match="ingest.py --rebuild"):
        IndexReader(index, settings, other).current()


def test_no_index_yet_says_how_to_build_one(settings, fake_embedder, index):
    from assistant.answer.retrieval import IndexReader

    with pytest.raises(IndexNotReadyError, match="run `python ingest.py` first"):
        IndexReader(index, settings, fake_embedder).current()
