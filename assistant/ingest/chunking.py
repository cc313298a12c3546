"""Pack a cleaned document's blocks into section-aware chunks with content-derived ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .cleaning import CleanDocument, Unit
from .loading import STAFF


@dataclass(frozen=True)
class Chunk:
    id: str  # derived from source, section and text: same content, same id, on every ingest
    source: str
    title: str
    section: str
    units: tuple[Unit, ...]
    file_sha256: str
    audience: str = "public"  # who may be shown it (sources.toml, markers.py); retrieval filters on it
    withheld: str = ""  # the document's label that keeps it from patients (markers.py), if any

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.units)

    @property
    def embedding_text(self) -> str:
        # Title and section are part of what a passage is about ("Maintenance and Follow-Up"
        # tells what "it" refers to), so they go into its vector and its BM25 terms.
        return f"{self.title}. {self.section}.\n{self.text}"

    def unit_id(self, position: int) -> str:
        return f"{self.id}:{position}"


def chunk_id(source: str, section: str, text: str) -> str:
    digest = hashlib.sha256(f"{source}\x1f{section}\x1f{text}".encode("utf-8")).hexdigest()
    return digest[:24]


def chunk_document(doc: CleanDocument, max_chars: int) -> list[Chunk]:
    """Consecutive blocks of one section share a chunk until it would pass ``max_chars``.

    A chunk never spans two sections, so its section label is always true, nor a block the
    document marks as not to be used and one it does not (the chunk's audience is then true); a
    single block longer than the limit still becomes one chunk rather than being cut mid-sentence.
    """
    chunks: list[Chunk] = []
    section, withheld, units, size = None, "", [], 0

    def flush():
        if units:
            text = " ".join(u.text for u in units)
            audience = STAFF if withheld else doc.audience
            chunks.append(Chunk(chunk_id(doc.source, section, text), doc.source, doc.title,
                                section, tuple(units), doc.sha256, audience, withheld))

    for block in doc.blocks:
        block_size = sum(len(u.text) + 1 for u in block.units)
        if block.section != section or block.withheld != withheld or (units and size + block_size > max_chars):
            flush()
            section, withheld, units, size = block.section, block.withheld, [], 0
        units.extend(block.units)
        size += block_size
    flush()
    return chunks
