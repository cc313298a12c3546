"""Incremental ingest: load, clean, chunk, embed only what is new, and publish a new build."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from .chunking import Chunk, chunk_document
from .cleaning import clean_document, unit_embedding_text
from .markers import MODEL_FILE as MARKER_MODEL_FILE, load_marker_model, withhold_marked
from ..embeddings import Embedder
from ..errors import CorpusError
from ..index import BuildInfo, ChromaIndex, Records
from .loading import PUBLIC, corpus_files, file_sha256, load_corpus, read_metadata
from .structure import Dropped
from ..settings import Settings

log = logging.getLogger(__name__)

# Bump when cleaning or chunking rules change, so the next ingest re-processes every file.
# 4: chunks and units carry their document's audience, and chunks their file version.
# 5: HTML parsed by html5lib; disclosure buttons head their panels; ornament symbols dropped.
# 6: a label above a heading (an eyebrow) and a line with no letters are dropped.
# 7: an eyebrow is at most four words in title case (a short answer without its full stop stays).
# 8: blocks under a label that marks them as not to be used are staff-only (markers.py).
PIPELINE_VERSION = "8"


@dataclass
class IngestReport:
    files: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks_added: int = 0
    chunks_unchanged: int = 0
    chunks_removed: int = 0
    lines_dropped: int = 0
    texts_embedded: int = 0
    seconds: float = 0.0
    build: str = ""
    up_to_date: bool = False
    dropped: list[tuple[str, Dropped]] = field(default_factory=list)
    withheld: list[tuple[str, str, int]] = field(default_factory=list)  # (source, marking label, passages)

    def summary(self) -> str:
        """What changed, in words a clinic manager reads: documents and passages, not builds."""
        documents = f"{self.files} document{'s' if self.files != 1 else ''}"
        if self.up_to_date:
            first = f"Nothing to update: the assistant already answers from all {documents}."
        else:
            changes = [f"{n} passage{'s' if n != 1 else ''} {what}" for n, what in
                       ((self.chunks_added, "added"), (self.chunks_removed, "removed")) if n]
            first = (f"The assistant now answers from {documents} "
                     f"({', '.join(changes) or 'no passage added or removed'}, {self.chunks_unchanged} kept as they were).")
        lines = [first]
        if self.lines_dropped:
            lines.append(f"{self.lines_dropped} lines were left out as page furniture, repeats or hidden text "
                         "(`python ingest.py --explain` lists each with its reason).")
        if self.withheld:
            kept = sum(n for _, _, n in self.withheld)
            lines.append(f"{kept} passage{'s are' if kept != 1 else ' is'} shown to staff only, because "
                         f"{'their' if kept != 1 else 'its'} document marks {'them' if kept != 1 else 'it'} as not "
                         "to be used (`python ingest.py --explain` lists each with the label).")
        lines += [f"Not read: {name}: {why}" for name, why in self.skipped]
        lines.append(f"Done in {self.seconds:.1f} s ({self.texts_embedded} texts read by the model; index build {self.build}).")
        return "\n".join(lines)


def pipeline_key(settings: Settings, embedder: Embedder) -> str:
    # A new marker model may withhold other parts: it re-processes every file too.
    markers = file_sha256(MARKER_MODEL_FILE)[:12] if MARKER_MODEL_FILE.is_file() else "none"
    raw = f"{PIPELINE_VERSION}|{settings.chunk_max_chars}|{embedder.name}|{markers}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def run_ingest(settings: Settings, embedder: Embedder, index: ChromaIndex, rebuild: bool = False,
               explain: bool = False, progress: bool = True, on_progress: Progress | None = None) -> IngestReport:
    """Bring the index up to date with the corpus; one ingest at a time (IngestBusyError otherwise).

    ``on_progress`` is told each stage ("reading", "embedding", "publishing") with its counts.
    """
    index.acquire_ingest_lock()
    try:
        return _ingest(settings, embedder, index, rebuild, explain, progress, on_progress or _quiet)
    finally:
        index.release_ingest_lock()


def _quiet(stage: str, done: int, total: int) -> None:
    pass


def _ingest(settings: Settings, embedder: Embedder, index: ChromaIndex,
            rebuild: bool, explain: bool, progress: bool, on_progress: Progress) -> IngestReport:
    started = time.perf_counter()
    on_progress("reading", 0, 0)
    report = IngestReport()
    files, fingerprint = _corpus_versions(settings)
    pipeline = pipeline_key(settings, embedder)

    current = index.active_build()
    reusable = current is not None and not rebuild and current.pipeline == pipeline
    if reusable and current.corpus_fingerprint == fingerprint and not explain:
        report.files, report.up_to_date, report.build = current.files, True, current.build
        report.chunks_unchanged = current.chunks
        report.seconds = time.perf_counter() - started
        return report

    old_chunks, old_units = _read_current(index, current) if reusable else (_empty(), _empty())
    old_by_source: dict[str, list[int]] = {}
    for row, meta in enumerate(old_chunks.metadatas):
        if files.get(meta["source"]) == meta.get("file_version"):
            old_by_source.setdefault(meta["source"], []).append(row)

    # Files whose bytes and sources.toml entry did not change keep their chunks as they are: no
    # cleaning, no embedding.
    to_process = set(files) if explain else set(files) - set(old_by_source)
    new_chunks = _clean_and_chunk(settings, to_process, report, embedder)

    kept_rows = [row for source, rows in old_by_source.items() if source not in to_process for row in rows]
    old_ids, reused, fresh = _reusable(old_chunks, new_chunks)

    if not kept_rows and not new_chunks:
        raise CorpusError(
            f"nothing to index in {settings.corpus_dir}: no file could be read "
            f"({len(report.skipped)} skipped). Add .txt, .md, .html or .pdf documents; the current index is unchanged."
        )

    chunk_vecs, unit_vecs = _embed(fresh, embedder, settings, progress, on_progress)
    report.texts_embedded = len(fresh) + sum(len(c.units) for c in fresh)

    chunks, units = _assemble((old_chunks, old_units), kept_rows + [old_ids[c.id] for c in reused], reused,
                              (fresh, chunk_vecs, unit_vecs), files)

    new_ids = set(chunks.ids)
    report.files = len({m["source"] for m in chunks.metadatas})
    report.chunks_added = len(fresh)
    report.chunks_unchanged = len(new_ids) - len(fresh)
    report.chunks_removed = len(set(old_chunks.ids) - new_ids)

    if (reusable and current.corpus_fingerprint == fingerprint and not fresh
            and report.chunks_removed == 0):
        report.up_to_date, report.build = True, current.build  # --explain on an unchanged corpus
    else:
        on_progress("publishing", 0, 0)
        report.build = _publish(index, chunks, units, embedder.name, fingerprint, pipeline, report.files)
    report.seconds = time.perf_counter() - started
    return report


def _reusable(old_chunks: Records, new_chunks: list[Chunk]):
    """(old row by chunk id, the new chunks whose vectors can be reused, the ones to embed).

    A chunk keeps its vectors when its id and its embedded text are those of an old one (a new
    audience changes neither); a new title changes the embedded text, so it is re-embedded."""
    old_ids = {cid: row for row, cid in enumerate(old_chunks.ids)}
    reused = [c for c in new_chunks
              if c.id in old_ids and old_chunks.metadatas[old_ids[c.id]].get("embedding_text") == c.embedding_text]
    reused_ids = {c.id for c in reused}
    return old_ids, reused, [c for c in new_chunks if c.id not in reused_ids]


def _publish(index: ChromaIndex, chunks: Records, units: Records, model: str, fingerprint: str, pipeline: str,
             files: int) -> str:
    """Write the build and make it the one queries read; returns its name."""
    now = datetime.now(timezone.utc)
    info = BuildInfo(build=now.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:8], embedding_model=model,
                     corpus_fingerprint=fingerprint, pipeline=pipeline, chunks=len(chunks.ids), units=len(units.ids),
                     files=files, ingested_at=now.isoformat(timespec="seconds"))
    index.write_build(info, chunks, units)
    return info.build


def _corpus_versions(settings: Settings) -> tuple[dict[str, str], str]:
    """Each file's version, and the corpus's fingerprint. A file's version is its bytes and its
    sources.toml entry: a new title or audience re-processes the file though its bytes did not change."""
    metadata = read_metadata(settings.corpus_dir)
    files = {name: file_version(file_sha256(p), metadata.get(name))
             for p in corpus_files(settings.corpus_dir) for name in [p.relative_to(settings.corpus_dir).as_posix()]}
    fingerprint = hashlib.sha256(
        "\n".join(f"{name}\x1f{sha}" for name, sha in sorted(files.items())).encode()
    ).hexdigest()[:16]
    return files, fingerprint


def _clean_and_chunk(settings: Settings, sources: set[str], report: IngestReport, embedder: Embedder) -> list[Chunk]:
    """Load, clean and chunk ``sources``; what was skipped, dropped or kept from patients goes into ``report``."""
    loaded = load_corpus(settings.corpus_dir, only=sources)
    report.skipped = loaded.skipped
    cleaned = [clean_document(doc) for doc in loaded.documents]
    if cleaned:
        cleaned = withhold_marked(cleaned, embedder, load_marker_model())
    chunks: list[Chunk] = []
    for doc in cleaned:
        report.lines_dropped += len(doc.dropped)
        report.dropped += [(doc.source, d) for d in doc.dropped]
        chunks += chunk_document(doc, settings.chunk_max_chars)
    report.withheld = [(c.source, c.withheld, len(c.units)) for c in chunks if c.withheld]
    return chunks


def _assemble(old: tuple[Records, Records], old_rows: list[int], reused: list[Chunk], fresh, files: dict):
    """The new build's chunks and units: the old rows kept (unchanged files, then the reused
    chunks), then the freshly embedded ones (``fresh``: chunks, chunk vectors, unit vectors)."""
    old_chunks, old_units = old
    chunks, units = _empty(), _empty()
    _append_rows(chunks, old_chunks, old_rows)
    # Reused chunks take their metadata from this ingest (title, audience), their vectors from the old build.
    kept = len(old_rows) - len(reused)
    chunks.metadatas[kept:] = [chunk_metadata(c, files[c.source]) for c in reused]
    audience = {cid: m.get("audience", PUBLIC) for cid, m in zip(chunks.ids, chunks.metadatas)}
    _append_rows(units, old_units, [r for r, m in enumerate(old_units.metadatas) if m["chunk_id"] in audience])
    units.metadatas = [m | {"audience": audience[m["chunk_id"]]} for m in units.metadatas]
    _append_chunks(chunks, units, *fresh, files)
    return chunks, units


def ensure_serving_model(settings: Settings):
    """Export the embedding model for ONNX Runtime once (answering then needs no torch); the path
    when it was exported now, None when it was there already or could not be made (answers then
    use the reference model, and a warning says why)."""
    from ..embeddings import export_onnx, onnx_path

    target = onnx_path(settings)
    if target.is_file():
        return None
    try:
        return export_onnx(settings.model_path, target)
    except Exception as exc:  # noqa: BLE001 - serving falls back to the reference model
        log.warning("could not export the serving model (%s: %s); answers use sentence-transformers",
                    type(exc).__name__, exc)
        return None


def _empty() -> Records:
    return Records([], [], [], np.zeros((0, 0), dtype=np.float32))


def _read_current(index: ChromaIndex, current: BuildInfo) -> tuple[Records, Records]:
    chunks_col, units_col = index.collections(current.build)
    return index.read_all(chunks_col), index.read_all(units_col)


def _append_rows(target: Records, source: Records, rows: list[int]) -> None:
    if not rows:
        return
    target.ids += [source.ids[r] for r in rows]
    target.documents += [source.documents[r] for r in rows]
    target.metadatas += [source.metadatas[r] for r in rows]
    target.embeddings = _stack(target.embeddings, source.embeddings[rows])


def file_version(sha256: str, entry: dict | None) -> str:
    raw = f"{sha256}\x1f{json.dumps(entry or {}, sort_keys=True, default=str)}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def chunk_metadata(chunk: Chunk, version: str) -> dict:
    return {"source": chunk.source, "title": chunk.title, "section": chunk.section,
            "file_sha256": chunk.file_sha256, "file_version": version, "units": len(chunk.units),
            "embedding_text": chunk.embedding_text, "audience": chunk.audience, "withheld": chunk.withheld}


def _append_chunks(chunks: Records, units: Records, fresh: list[Chunk], chunk_vecs, unit_vecs,
                   versions: dict[str, str]) -> None:
    if not fresh:
        return
    for chunk in fresh:
        chunks.ids.append(chunk.id)
        chunks.documents.append(chunk.text)
        chunks.metadatas.append(chunk_metadata(chunk, versions[chunk.source]))
        for position, unit in enumerate(chunk.units):
            units.ids.append(chunk.unit_id(position))
            units.documents.append(unit.text)
            units.metadatas.append({"chunk_id": chunk.id, "position": position, "line": unit.line,
                                    "context": unit.context, "audience": chunk.audience})
    chunks.embeddings = _stack(chunks.embeddings, chunk_vecs)
    units.embeddings = _stack(units.embeddings, unit_vecs)


def _stack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return b.copy() if a.size == 0 else np.concatenate([a, b])


def _embed(fresh: list[Chunk], embedder: Embedder, settings: Settings, progress: bool, on_progress: Progress):
    texts = [c.embedding_text for c in fresh]
    texts += [unit_embedding_text(c.section, u.quote) for c in fresh for u in c.units]
    if not texts:
        return _empty().embeddings, _empty().embeddings
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="embedding", unit="text", file=sys.stderr, disable=None)
    vectors = _embed_texts(texts, embedder, settings.embed_batch_size, bar, on_progress)
    if bar is not None:
        bar.close()
    return vectors[: len(fresh)], vectors[len(fresh):]


def _embed_texts(texts: list[str], embedder: Embedder, batch: int, bar, on_progress: Progress = _quiet) -> np.ndarray:
    # Embed in order of length: a batch is padded to its longest text, so mixing a long chunk
    # with short sentences wastes most of the batch's work.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = None
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        part = embedder.embed_batch([texts[i] for i in rows])
        if vectors is None:
            vectors = np.zeros((len(texts), part.shape[1]), dtype=np.float32)
        vectors[rows] = part
        if bar is not None:
            bar.update(len(rows))
        on_progress("embedding", min(start + batch, len(order)), len(order))
    return vectors
