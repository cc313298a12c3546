"""Evaluation metrics as pure functions over plain data.

Retrieval follows the BEIR contract: ``qrels = {query_id: {doc_id: relevance}}`` and
``results = {query_id: {doc_id: score}}``; keys of the returned dicts read ``Hit@5`` (hit rate: a relevant passage in the top 5),
``MRR@10``, ``nDCG@5``. Answer metrics take the answer text and its citations.
"""

from __future__ import annotations

import math
import re
import statistics
from typing import Iterable, Mapping, Sequence

_MARKER = re.compile(r"\s*\[(\d+)\]")
_WORD = re.compile(r"[a-z0-9]+")


def _ranked(scores: Mapping[str, float]) -> list[str]:
    return [doc for doc, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def _judged(qrels) -> list[str]:
    """Queries with at least one relevant document: the others cannot be scored."""
    return [q for q in qrels if any(r > 0 for r in qrels[q].values())]


def _first_hit(qrels, results, query: str, k: int) -> int | None:
    """Rank (from 1) of the first relevant document in the top k, or None."""
    for rank, doc in enumerate(_ranked(results.get(query, {}))[:k], start=1):
        if qrels[query].get(doc, 0) > 0:
            return rank
    return None


def hit_rate_at(qrels: Mapping[str, Mapping[str, int]], results: Mapping[str, Mapping[str, float]], k: int) -> float:
    """Share of queries with at least one relevant document in the top k (hit rate).

    With one fact stated in several near-identical passages, finding any one of them answers
    the question, so a hit counts rather than the share of relevant passages found.
    """
    queries = _judged(qrels)
    if not queries:
        return 0.0
    return sum(_first_hit(qrels, results, q, k) is not None for q in queries) / len(queries)


def mrr_at(qrels, results, k: int) -> float:
    queries = _judged(qrels)
    if not queries:
        return 0.0
    ranks = [_first_hit(qrels, results, q, k) for q in queries]
    return sum(1.0 / r for r in ranks if r is not None) / len(queries)


def ndcg_at(qrels, results, k: int) -> float:
    queries = _judged(qrels)
    if not queries:
        return 0.0
    total = 0.0
    for q in queries:
        gains = [qrels[q].get(doc, 0) for doc in _ranked(results.get(q, {}))[:k]]
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
        ideal = sorted((r for r in qrels[q].values() if r > 0), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        total += dcg / idcg if idcg else 0.0
    return total / len(queries)


def retrieval_metrics(qrels, results) -> dict[str, float]:
    return {
        "Hit@1": hit_rate_at(qrels, results, 1),
        "Hit@3": hit_rate_at(qrels, results, 3),
        "Hit@5": hit_rate_at(qrels, results, 5),
        "MRR@10": mrr_at(qrels, results, 10),
        "nDCG@5": ndcg_at(qrels, results, 5),
    }


# --- answers -------------------------------------------------------------------------

def normalize(text: str) -> str:
    """Lower case, typographic quotes folded, white space collapsed: for substring checks."""
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(text.lower().split())


def contains_any(text: str, needles: Iterable[str]) -> bool:
    hay = normalize(text)
    return any(normalize(n) in hay for n in needles)


def segments(answer: str) -> list[tuple[str, list[int]]]:
    """Split an answer into (passage, the markers that follow it): a marker covers all the
    text since the previous marker, as a footnote at the end of a passage does.

    "A. [1] B. B2. [2][3] C." -> [("A.", [1]), ("B. B2.", [2, 3]), ("C.", [])]. Bits with no
    words (a stray ".") are dropped.
    """
    out: list[tuple[str, list[int]]] = []
    pos = 0
    text = answer.strip()
    for match in _MARKER.finditer(text):
        piece = text[pos:match.start()].strip()
        n = int(match.group(1))
        if _WORD.search(piece.lower()):
            out.append((piece, [n]))
        elif out:
            out[-1][1].append(n)
        pos = match.end()
    rest = text[pos:].strip()
    if _WORD.search(rest.lower()):
        out.append((rest, []))
    return out


def supports(passage: str, sentence: str, min_overlap: float = 0.6) -> bool:
    """Whether a cited passage backs a sentence: it contains it, or holds most of its words."""
    p, s = normalize(passage), normalize(sentence)
    if s and s in p:
        return True
    words = set(_WORD.findall(s))
    return bool(words) and len(words & set(_WORD.findall(p))) / len(words) >= min_overlap


def citation_scores(answer: str, quotes: Mapping[int, str]) -> tuple[float, float]:
    """(precision, recall) of an answer's citations.

    Precision: of all (sentence, marker) pairs, the share whose cited passage supports the
    sentence (a marker naming no citation counts as unsupported). Recall: the share of answer
    sentences with at least one supporting citation.
    """
    parts = segments(answer)
    pairs = [(text, n) for text, markers in parts for n in markers]
    supported_pairs = sum(n in quotes and supports(quotes[n], text) for text, n in pairs)
    precision = supported_pairs / len(pairs) if pairs else 0.0
    supported_sentences = sum(any(n in quotes and supports(quotes[n], text) for n in markers) for text, markers in parts)
    recall = supported_sentences / len(parts) if parts else 0.0
    return precision, recall


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(values_ms: Sequence[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(values_ms), "p95_ms": percentile(values_ms, 95)}


def confusion(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """``{expected: {got: count}}`` from (expected, got) status pairs."""
    table: dict[str, dict[str, int]] = {}
    for expected, got in pairs:
        row = table.setdefault(expected, {})
        row[got] = row.get(got, 0) + 1
    return table
