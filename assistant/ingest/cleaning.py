"""Turn a loaded document into sections of quotable units, dropping what is not the article.

Every rule is structural (position, length, shape, repetition), never a list of known strings,
because each clinic's documents carry their own page furniture; no sentence is dropped for
being unlike the rest of its document, since a clinic's one line on pregnancy is unlike its
pages on needles. Each dropped line or sentence is kept with its reason for
``ingest.py --explain``.

A unit keeps the context that keeps it true: a list item its lead-in ("May not be suitable for
you if: … You are pregnant"), an answer its question heading, a table row or a short entry its
heading ("DAY 1 … Makeup: NO."). The context is quoted with the unit, joined by an ellipsis,
never reworded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .loading import SourceDocument
from .structure import Dropped, SourceLine
from ..text import normalize, split_sentences, words

# Two sentences of one document sharing at least half of their distinct words say the same
# thing: in the seeds, rewordings of one fact score 0.50-1.00, different facts at most 0.40.
NEAR_DUPLICATE_JACCARD = 0.5
# A paragraph needs this many words to count as body text when finding where the article
# starts and ends. At the end, a short line also has to be a plain statement (ending in a full
# stop): the prompts, links and promotions below an article ("Create your post!", "What do
# you think?", "Get updated with beauty tips") are exclamations, questions or fragments.
BODY_MIN_WORDS = 6
ARTICLE_END_MIN_WORDS = 20
# A web page's label above a heading (an eyebrow) has at most this many words: every eyebrow of
# the web evaluation pages has 3 or 4 ("What It Addresses", "Ready for Expert Care?").
EYEBROW_MAX_WORDS = 4
# Joins a unit to its context in a quote: visibly, and with no word of ours.
CONTEXT_JOINER = " … "
# Joins the headings of a section path ("DAY 1 › What to expect").
SECTION_SEPARATOR = " › "

# A line that is nothing but an address to follow (a URL or an e-mail address) is a link.
_BARE_LINK = re.compile(r"^\W*(https?://\S+|www\.\S+|\S+@\S+\.\w+)\W*$", re.IGNORECASE)
# Sentences that open with a pronoun or connective lean on the sentence before them ("This is
# a normal reaction..."): they are quoted together with it, so a quote makes sense on its own.
# English's closed class of such words, not a list grown from cases.
_ANAPHORIC = re.compile(
    r"^(This|These|That|Those|It|Its|They|Their|Such|However|Additionally|Also|Therefore|"
    r"Thus|As a result|In addition,)\b"
)


@dataclass(frozen=True)
class Unit:
    """The smallest quotable piece: a sentence, two linked sentences, a list item or a table row,
    with the lead-in or heading it needs to stay true."""

    text: str
    line: int
    context: str = ""

    @property
    def quote(self) -> str:
        return f"{self.context}{CONTEXT_JOINER}{self.text}" if self.context else self.text


def unit_embedding_text(section: str, quote: str) -> str:
    """What a unit's vector is made from: the section names what a sentence is about, which a
    bare sentence often leaves out."""
    return f"{section}: {quote}"


@dataclass(frozen=True)
class Block:
    """A paragraph, list item or table row of kept units under one section."""

    section: str
    units: tuple[Unit, ...]
    withheld: str = ""  # the label that marks the block as not to be used, when one does (markers.py)


@dataclass(frozen=True)
class CleanDocument:
    source: str
    title: str
    origin: str
    sha256: str
    blocks: tuple[Block, ...]
    dropped: tuple[Dropped, ...]
    audience: str = "public"


def classify(line: SourceLine, explicit_structure: bool) -> str:
    """heading, label (a bullet that names a sub-section), item (short list entry), bullet, row,
    prose or fragment."""
    text, n = line.text, len(line.text.split())
    if line.heading_level is not None:
        return "heading"
    if line.row:
        return "row"
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


def _is_eyebrow(text: str) -> bool:
    """A label in title case of at most EYEBROW_MAX_WORDS words; a short answer left without its
    full stop ("Usually about an hour") is not title case, so it stays."""
    tokens = text.split()
    return (len(tokens) <= EYEBROW_MAX_WORDS and _heading_shaped(text)
            and all(t[:1].isupper() for t in tokens if len(t) >= 4 and t[:1].isalpha()))


def _is_body(line: SourceLine, kind: str) -> bool:
    return kind in ("bullet", "item", "row") or (kind == "prose" and len(line.text.split()) >= BODY_MIN_WORDS)


def clean_document(doc: SourceDocument) -> CleanDocument:
    """Apply the cleaning rules in order."""
    lines = list(doc.lines)
    kinds = [classify(line, doc.explicit_structure) for line in lines]
    reasons: dict[int, str] = {}

    title_key = " ".join(words(doc.title))
    for i, (line, kind) in enumerate(zip(lines, kinds)):
        if kind == "fragment" or (kind != "row" and not any(c.isalpha() for c in line.text)):
            reasons.setdefault(i, "fragment: too short to be a sentence or heading")
        elif (doc.explicit_structure and kind == "prose" and _is_eyebrow(line.text)
              and i + 1 < len(lines) and kinds[i + 1] == "heading"):
            # Web pages put a short label above a heading ("What to Expect" over "Your Treatment
            # Experience", an eyebrow); it is no sentence, and quoted it answers nothing.
            reasons.setdefault(i, "a label above a heading (an eyebrow), not a sentence")
        elif _BARE_LINK.match(line.text):
            reasons.setdefault(i, "a bare link or e-mail address")
        elif " ".join(words(line.text)) == title_key:
            reasons.setdefault(i, "document title (kept as metadata)")

    # Page header: in plain text, everything above the first paragraph is navigation, titles
    # and related links. Markup (md/html) says what its headers are, and the loaders used it.
    if not doc.explicit_structure:
        first_body = next((i for i, (l, k) in enumerate(zip(lines, kinds)) if _is_body(l, k)), len(lines))
        for i in range(first_body):
            # ...except the first question of an FAQ, whose answer needs it.
            if not (i == first_body - 1 and kinds[i] == "heading" and lines[i].text.endswith("?")):
                reasons.setdefault(i, "page header above the first paragraph")

    # Page footer: below the last paragraph come share prompts, comment boxes and promotions.
    for i in range(len(lines) - 1, -1, -1):
        if i in reasons:
            continue
        n = len(lines[i].text.split())
        if kinds[i] in ("bullet", "item", "row") or n >= ARTICLE_END_MIN_WORDS or \
                (n >= BODY_MIN_WORDS and lines[i].text.endswith(".")):
            break
        reasons.setdefault(i, "page footer below the last paragraph")

    _drop_orphan_headings(lines, kinds, reasons)

    blocks, dup_drops = _build_blocks(doc, lines, kinds, reasons)
    dropped = list(doc.dropped) + [Dropped(lines[i].number, lines[i].text, r) for i, r in sorted(reasons.items())]
    dropped.extend(dup_drops)
    dropped.sort(key=lambda d: d.line)
    return CleanDocument(doc.source, doc.title, doc.origin, doc.sha256, tuple(blocks), tuple(dropped), doc.audience)


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
    return kind_a in ("heading", "label") and _rank(a, kind_a) <= _rank(b, kind_b)


def _rank(line: SourceLine, kind: str) -> int:
    """Heading depth: marked levels 1-6, then headings guessed from shape, then list labels."""
    if kind == "label":
        return 8 + (line.bullet_depth or 0)
    return line.heading_level or 7


def _is_label(sentence: str) -> bool:
    letters = [c for c in sentence if c.isalpha()]
    return len(sentence.split()) <= 8 and len(letters) >= 3 and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


def _build_blocks(doc: SourceDocument, lines, kinds, reasons):
    blocks: list[Block] = []
    dup_drops: list[Dropped] = []
    seen: list[tuple[set[str], int]] = []  # word sets of kept sentences, with their line
    headings: list[tuple[int, str]] = []  # the open headings, outermost first, with their rank
    lead: str | None = None  # the sentence that introduces the list being read
    items: list[SourceLine] = []  # short entries gathered under one lead-in or heading

    def flush_items():
        # Short entries ("enlarged pores", "Photo ID") are one answer together: one unit.
        nonlocal items
        if items:
            text = "; ".join(i.text for i in items)
            blocks.append(Block(path, (Unit(text, items[0].number, lead or heading),)))
        items = []

    for i, (line, kind) in enumerate(zip(lines, kinds)):
        if i in reasons:
            continue
        if kind in ("heading", "label"):
            flush_items()
            rank = _rank(line, kind)
            while headings and headings[-1][0] >= rank:
                headings.pop()
            headings.append((rank, line.text.rstrip(":").strip()))
            lead = None
            continue
        path = SECTION_SEPARATOR.join(h for _, h in headings) or doc.title
        heading = headings[-1][1] if headings else doc.title
        if kind == "item":
            items.append(line)
            continue
        flush_items()
        if kind in ("bullet", "row"):
            context = lead or heading
        else:
            lead = None
            # Under a question heading, the answer means nothing without it ("Most people do.").
            context = heading if heading.endswith("?") else ""
        units = _units(line, seen, dup_drops, context)
        if units:
            blocks.append(Block(path, tuple(units)))
        if kind == "prose" and line.text.endswith(":"):
            lead = split_sentences(line.text)[-1]
    flush_items()
    return blocks, dup_drops


def _units(line: SourceLine, seen, dup_drops, context: str) -> list[Unit]:
    text = line.text
    if line.row:
        return [Unit(text, line.number, context)]
    kept: list[tuple[int, int]] = []  # (start, end) offsets in the line
    previous_kept = False
    cursor = 0
    sentences = split_sentences(text)
    if len(sentences) > 1 and _is_label(sentences[0]):
        # A line that opens with a short label in capitals ("!! OLD PRICES - DO NOT QUOTE!!")
        # says what the rest of the line is: its sentences are quoted under it.
        context = sentences[0]
        cursor = text.find(sentences[0]) + len(sentences[0])
        sentences = sentences[1:]
    for sentence in sentences:
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
    return [Unit(text[s:e], line.number, context) for s, e in kept]
