"""Turn a loaded document into sections of quotable sentences, dropping what is not the article.

Every rule is general (position, length, shape, links, similarity to the rest of the
document), never a list of known strings, because each clinic's documents carry their own
page furniture. Each dropped line or sentence is kept with its reason for ``ingest.py --explain``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .loading import SourceDocument, SourceLine
from .text import normalize, split_sentences, words

EmbedFn = Callable[[Sequence[str]], np.ndarray]

# Two sentences of one document sharing at least half of their distinct words say the same
# thing: in the seeds, rewordings of one fact score 0.50-1.00, different facts at most 0.40.
NEAR_DUPLICATE_JACCARD = 0.5
# A paragraph needs this many words to count as body text when finding where the article
# starts and ends.
BODY_MIN_WORDS = 6

_LINK_LIKE = re.compile(
    r"https?://|www\.|\S+@\S+\.\w+|\b(click here|read more|subscribe|sign up|newsletter|"
    r"share (this|on)|follow us|cookies?\b|all rights reserved|log ?in)",
    re.IGNORECASE,
)
# Sentences that lean on the one before them ("This is a normal reaction...") are quoted
# together with it, so a cited passage always makes sense on its own.
_ANAPHORIC = re.compile(
    r"^(This|These|That|Those|It|Its|They|Their|Such|However|Additionally|Also|Therefore|"
    r"Thus|As a result|In addition,)\b"
)


@dataclass(frozen=True)
class Dropped:
    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class Unit:
    """The smallest quotable piece: a sentence, two linked sentences, or a list with its lead-in."""

    text: str
    line: int


@dataclass(frozen=True)
class Block:
    """A paragraph or list item of kept units under one section."""

    section: str
    units: tuple[Unit, ...]
    line: int


@dataclass(frozen=True)
class CleanDocument:
    source: str
    title: str
    origin: str
    sha256: str
    blocks: tuple[Block, ...]
    dropped: tuple[Dropped, ...]


def classify(line: SourceLine, explicit_structure: bool) -> str:
    """heading, label (a bullet that names a sub-section), item (short list entry), bullet, prose or fragment."""
    text, n = line.text, len(line.text.split())
    if line.heading_level is not None:
        return "heading"
    if line.bullet_depth is not None:
        if text.endswith(":") and n <= 6 and _heading_shaped(text):
            return "label"
        if n < BODY_MIN_WORDS and text[-1:] not in ".!?:":
            return "item"
        return "bullet"
    if not explicit_structure and _heading_shaped(text):
        return "heading"
    if n < 3:
        return "fragment"
    return "prose"


def _heading_shaped(text: str) -> bool:
    n = len(text.split())
    return (
        n <= (6 if text.endswith(":") else 12)  # a longer line ending in ':' introduces a list
        and text[-1:] not in ".,;!"
        and (text[:1].isupper() or text[:1].isdigit())
        and ". " not in text
    )


def _is_body(line: SourceLine, kind: str) -> bool:
    return kind in ("bullet", "item") or (kind == "prose" and len(line.text.split()) >= BODY_MIN_WORDS)


def clean_document(doc: SourceDocument, embed: EmbedFn | None, offtopic_threshold: float) -> CleanDocument:
    """Apply the cleaning rules in order; ``embed`` (normalised vectors) powers the off-topic rule."""
    lines = list(doc.lines)
    kinds = [classify(line, doc.explicit_structure) for line in lines]
    reasons: dict[int, str] = {}

    def drop(i: int, reason: str) -> None:
        reasons.setdefault(i, reason)

    title_key = " ".join(words(doc.title))
    for i, (line, kind) in enumerate(zip(lines, kinds)):
        if kind == "fragment":
            drop(i, "fragment: too short to be a sentence or heading")
        elif _LINK_LIKE.search(line.text):
            drop(i, "link or call to action")
        elif " ".join(words(line.text)) == title_key:
            drop(i, "document title (kept as metadata)")

    # Page header: everything above the first paragraph is navigation, titles and related
    # links. Headings from real markup (md/html) are kept.
    first_body = next((i for i, (l, k) in enumerate(zip(lines, kinds)) if _is_body(l, k)), len(lines))
    for i in range(first_body):
        if not (doc.explicit_structure and kinds[i] == "heading"):
            drop(i, "page header above the first paragraph")

    if embed is not None:
        _drop_off_topic(lines, kinds, reasons, embed, offtopic_threshold)

    # Page footer: below the last on-topic paragraph come share prompts, comment boxes and
    # promotions.
    for i in range(len(lines) - 1, -1, -1):
        if i in reasons:
            continue
        if _is_body(lines[i], kinds[i]):
            break
        drop(i, "page footer below the last paragraph")

    _drop_orphan_headings(lines, kinds, reasons)

    blocks, dup_drops = _build_blocks(doc, lines, kinds, reasons)
    dropped = [Dropped(lines[i].number, lines[i].text, r) for i, r in sorted(reasons.items())]
    dropped.extend(dup_drops)
    dropped.sort(key=lambda d: d.line)
    return CleanDocument(doc.source, doc.title, doc.origin, doc.sha256, tuple(blocks), tuple(dropped))


def _drop_off_topic(lines, kinds, reasons, embed: EmbedFn, threshold: float) -> None:
    # Compare each standalone line with the mean of all the others (leave-one-out), so a
    # promo line cannot vouch for itself. Short list items and headings are judged by
    # structure instead: a two-word item ("Acne scars") is too short for a fair score.
    candidates = [i for i, k in enumerate(kinds) if k in ("prose", "bullet") and i not in reasons]
    if len(candidates) < 3:
        return
    vectors = np.asarray(embed([lines[i].text for i in candidates]), dtype=np.float32)
    total = vectors.sum(axis=0)
    for row, i in enumerate(candidates):
        rest = total - vectors[row]
        norm = float(np.linalg.norm(rest))
        similarity = float(vectors[row] @ rest / norm) if norm else 0.0
        if similarity < threshold:
            reasons.setdefault(i, f"off-topic for this document (similarity {similarity:.2f} < {threshold:.2f})")


def _drop_orphan_headings(lines, kinds, reasons) -> None:
    # A heading must have text under it; one followed by another heading of its level
    # (or by nothing) is a link or a leftover, not a section.
    kept = [i for i in range(len(lines)) if i not in reasons]
    for pos, i in enumerate(kept):
        if kinds[i] not in ("heading", "label"):
            continue
        nxt = kept[pos + 1] if pos + 1 < len(kept) else None
        if nxt is None or _outranks_or_equals(lines[nxt], kinds[nxt], lines[i], kinds[i]):
            reasons[i] = "heading with no text under it"


def _outranks_or_equals(a: SourceLine, kind_a: str, b: SourceLine, kind_b: str) -> bool:
    if kind_a == "heading" and kind_b == "label":
        return True
    if kind_a == "label" and kind_b == "label":
        return (a.bullet_depth or 0) <= (b.bullet_depth or 0)
    if kind_a == "heading" and kind_b == "heading":
        return (a.heading_level or 1) <= (b.heading_level or 1)
    return False


def _build_blocks(doc: SourceDocument, lines, kinds, reasons):
    blocks: list[Block] = []
    dup_drops: list[Dropped] = []
    seen: list[tuple[set[str], int]] = []  # word sets of kept sentences, with their line
    section, label = doc.title, None
    open_list: list[str] | None = None  # items gathered under a lead-in ending in ':'

    def close_list():
        nonlocal open_list
        if open_list is not None and blocks:
            last = blocks[-1]
            lead = last.units[-1]
            merged = Unit(f"{lead.text} {'; '.join(open_list)}", lead.line) if open_list else lead
            blocks[-1] = Block(last.section, last.units[:-1] + (merged,), last.line)
        open_list = None

    for i, (line, kind) in enumerate(zip(lines, kinds)):
        if i in reasons:
            continue
        if kind in ("heading", "label"):
            close_list()
            if kind == "heading":
                section, label = line.text.rstrip(":").strip(), None
            else:
                label = line.text.rstrip(":").strip()
            continue
        path = f"{section} › {label}" if label else section
        if kind == "item" and open_list is not None:
            open_list.append(line.text)
            continue
        close_list()
        units = _units(line, seen, dup_drops)
        if units:
            blocks.append(Block(path, tuple(units), line.number))
            if line.text.endswith(":") and units[-1].text.endswith(":"):
                open_list = []
    close_list()
    return blocks, dup_drops


def _units(line: SourceLine, seen, dup_drops) -> list[Unit]:
    text = line.text
    kept: list[tuple[int, int]] = []  # (start, end) offsets in the line
    previous_kept = False
    cursor = 0
    for sentence in split_sentences(text):
        start = text.find(sentence, cursor)
        end = start + len(sentence)
        cursor = end
        bag = set(words(sentence))
        twin = next((ln for other, ln in seen if bag and len(bag & other) / len(bag | other) >= NEAR_DUPLICATE_JACCARD), None)
        if twin is not None:
            dup_drops.append(Dropped(line.number, sentence, f"near-duplicate of line {twin}"))
            previous_kept = False
            continue
        seen.append((bag, line.number))
        if kept and previous_kept and _ANAPHORIC.match(normalize(sentence)):
            kept[-1] = (kept[-1][0], end)  # quote it together with the sentence it leans on
        else:
            kept.append((start, end))
        previous_kept = True
    return [Unit(text[s:e], line.number) for s, e in kept]
