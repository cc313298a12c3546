"""Insights for the clinic: the questions the assistant refused or met only with the closest
passages, and the answers people voted down with the passages they quoted, from every channel,
with near-duplicates grouped, counts by week and a CSV export."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ...answer.answering import CLOSEST, OUT_OF_SCOPE

# Two questions are one gap when the embedding model's cosine similarity reaches this. Measured on
# evals/data/cases.jsonl (the in-scope and out-of-scope cases: 79 questions in 26 intent groups,
# named by their ids) with all-MiniLM-L6-v2: pairs at >= 0.80 share an intent 47% of the time, at
# >= 0.70 18%, at >= 0.50 9% (the base rate is 3%); 0.80 is the lowest cut that keeps most merges
# right while still joining plain rephrasings ("how many sessions do i need" / "number of
# sessions": 0.80; "is microneedling permanent" / "Are microneedling results permanent?": 0.91).
# Below it, questions sharing only the topic word ("... microneedling ...") start to merge.
SAME_GAP = 0.80

REFUSED, CLOSEST_ONLY, DISLIKED = "refused", "closest passages only", "voted down"
KINDS = (REFUSED, CLOSEST_ONLY, DISLIKED)  # the order of the counts in the tables
# A question's stored status -> its kind of gap: no direct answer was found for either.
_STATUS_KIND = {OUT_OF_SCOPE: REFUSED, CLOSEST: CLOSEST_ONLY}


@dataclass(frozen=True)
class Cited:
    """A passage an answer quoted, as its vote stored it."""

    chunk_id: str
    quote: str  # the words the answer quoted; "" for a vote stored before votes kept them


@dataclass(frozen=True)
class Item:
    kind: str  # one of KINDS
    question: str  # as stored: contact details already redacted
    channel: str
    created_at: str
    cited: tuple[Cited, ...] = ()  # a voted-down answer's passages

    @property
    def week(self) -> str:
        year, week, _ = datetime.fromisoformat(self.created_at).isocalendar()
        return f"{year}-W{week:02d}"


@dataclass
class Group:
    question: str  # the most frequent wording
    items: list[Item] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def kinds(self) -> Counter:
        return Counter(i.kind for i in self.items)

    @property
    def channels(self) -> list[str]:
        return sorted({i.channel for i in self.items})

    @property
    def wordings(self) -> list[str]:
        return [q for q, _ in Counter(i.question for i in self.items).most_common()]

    @property
    def last_seen(self) -> str:
        return max(i.created_at for i in self.items)

    @property
    def cited(self) -> list[tuple[Cited, int]]:
        """The passages behind the group's down-votes, the most often voted down first, with how often."""
        return Counter(c for i in self.items if i.kind == DISLIKED for c in i.cited).most_common()


@dataclass(frozen=True)
class VotedDown:
    """A passage behind down-votes, as the insights page shows it."""

    quote: str  # "" when neither the vote nor the index has its words any more
    title: str  # "" when the serving index no longer holds the passage
    section: str
    href: str  # the document's page at the passage
    times: int


def passages_behind(group: Group, meta: dict[str, dict]) -> list[VotedDown]:
    """The passages the group's voted-down answers quoted, with their document's title and section
    and a link to the document at the passage; ``meta``: the serving index's chunks (a snapshot's
    ``meta``). A vote stored before votes kept their quotes shows its passage's whole text."""
    from ..reading import document_href

    shown = []
    for cited, times in group.cited:
        chunk = meta.get(cited.chunk_id)
        quote = cited.quote or (chunk or {}).get("text", "")
        if chunk is None:
            shown.append(VotedDown(quote, "", "", "", times))
        else:
            shown.append(VotedDown(quote, chunk.get("title", ""), chunk.get("section", ""),
                                   "/" + document_href(chunk["source"], quote), times))
    return shown


def read_items(path: Path) -> list[Item]:
    """Refused questions, questions met with the closest passages only, and down-voted answers from
    the feedback file, oldest first."""
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        def channel_column(table: str) -> str:
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            return "channel" if "channel" in columns else "'api'"  # files from before channels

        items = [Item(_STATUS_KIND[s], q, c, t) for s, q, c, t in db.execute(
            f"SELECT status, question, {channel_column('questions')}, created_at FROM questions "
            f"WHERE status IN ({', '.join('?' * len(_STATUS_KIND))}) ORDER BY id", tuple(_STATUS_KIND))]
        quotes = "quotes" if "quotes" in {row[1] for row in db.execute("PRAGMA table_info(votes)")} else "NULL"
        items += [Item(DISLIKED, q, c, t, _cited(ids, said)) for q, c, t, ids, said in db.execute(
            f"SELECT question, {channel_column('votes')}, created_at, chunk_ids, {quotes} FROM votes "
            "WHERE vote = 'down' ORDER BY id")]
    finally:
        db.close()
    return sorted(items, key=lambda i: i.created_at)


def _cited(chunk_ids: str, quotes: str | None) -> tuple[Cited, ...]:
    """A vote's passages from its stored JSON lists (chunk ids, and the quotes when kept)."""
    try:
        ids, said = json.loads(chunk_ids or "[]"), json.loads(quotes or "[]")
    except ValueError:
        return ()
    said = list(said) + [""] * max(0, len(ids) - len(said))
    return tuple(Cited(str(i), str(q)) for i, q in zip(ids, said))


def group_items(items: list[Item], embedder, cut: float = SAME_GAP) -> list[Group]:
    """Near-duplicate questions in one group: each wording, most frequent first, joins the first
    group whose leading wording it resembles (cosine >= ``cut``), else leads a new group. Joining
    leaders rather than any member keeps a chain of small steps from merging unrelated questions."""
    counts = Counter(" ".join(i.question.split()).lower() for i in items)
    wordings = [w for w, _ in counts.most_common()]
    if not wordings:
        return []
    vectors = np.asarray(embedder.embed_batch(wordings), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    leaders: list[int] = []
    group_of: dict[str, int] = {}
    for row, wording in enumerate(wordings):
        if leaders:
            similarity = vectors[leaders] @ vectors[row]
            best = int(np.argmax(similarity))
            if similarity[best] >= cut:
                group_of[wording] = best
                continue
        group_of[wording] = len(leaders)
        leaders.append(row)
    groups = [Group(wordings[row]) for row in leaders]
    for item in items:
        groups[group_of[" ".join(item.question.split()).lower()]].items.append(item)
    for group in groups:
        group.question = group.wordings[0]
    groups.sort(key=lambda g: g.last_seen, reverse=True)
    return sorted(groups, key=lambda g: g.count, reverse=True)  # most frequent, then most recent


def weekly_counts(items: list[Item]) -> list[tuple[str, int, int, int]]:
    """(ISO week, refused, closest passages only, voted down), newest week first."""
    weeks: dict[str, Counter] = {}
    for item in items:
        weeks.setdefault(item.week, Counter())[item.kind] += 1
    return [(week, *(c[kind] for kind in KINDS)) for week, c in sorted(weeks.items(), reverse=True)]


def to_csv(groups: list[Group]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["created_at", "week", "kind", "channel", "group", "question"])
    for group in groups:
        for item in group.items:
            writer.writerow([item.created_at, item.week, item.kind, item.channel, _no_formula(group.question),
                             _no_formula(item.question)])
    return out.getvalue()


def _no_formula(text: str) -> str:
    # A question is visitor text: one starting with = + - @ would run as a formula when the
    # manager opens the CSV in a spreadsheet (OWASP "CSV injection"), so it is quoted as text.
    # Spreadsheets skip leading blanks and line breaks before such a sign (" =1+1", "\n=1+1"),
    # so a cell starting with any white space is quoted too.
    return "'" + text if text[:1] in ("=", "+", "-", "@") or text[:1].isspace() else text
