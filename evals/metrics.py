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

import ir_measures
from ir_measures import RR, Success, nDCG

_MARKER = re.compile(r"\s*\[(\d+)\]")
_WORD = re.compile(r"[a-z0-9]+")

# Retrieval measures are ir-measures' (trec_eval's, through pytrec_eval) rather than hand code.
# ranx was the other candidate and was measured on this machine (2026-11-25): it would add 251 MB
# in 11 packages (numba and llvmlite alone 208 MB), take 1.5-2.7 s to import and 23 s to compile
# its first evaluation; ir-measures adds 1.8 MB in 2 packages, imports in about 30 ms and loads
# pytrec_eval on first use in about 85 ms.
RETRIEVAL_MEASURES = {"Hit@1": Success@1, "Hit@3": Success@3, "Hit@5": Success@5, "MRR@10": RR@10, "nDCG@5": nDCG@5}


def _ranked(scores: Mapping[str, float]) -> list[str]:
    return [doc for doc, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def _judged(qrels) -> list[str]:
    """Queries with at least one relevant document: the others cannot be scored."""
    return [q for q in qrels if any(r > 0 for r in qrels[q].values())]


def _means(qrels: Mapping[str, Mapping[str, int]], results: Mapping[str, Mapping[str, float]],
           measures: Sequence) -> list[float]:
    """Each measure's mean over the judged queries; a judged query with no results scores 0.

    Documents are ranked by score, ties by id, and handed over as 1/rank: left to the library,
    tied documents come in one order for Success@k (trec_eval's) and another for RR@k.
    """
    queries = _judged(qrels)
    if not queries:
        return [0.0] * len(measures)
    judged = {q: {doc: int(rel) for doc, rel in qrels[q].items()} for q in queries}
    run = {q: {doc: 1.0 / rank for rank, doc in enumerate(_ranked(results.get(q, {})), start=1)} for q in queries}
    totals = dict.fromkeys(measures, 0.0)
    for metric in ir_measures.iter_calc(list(measures), judged, run):
        totals[metric.measure] += metric.value
    return [totals[m] / len(queries) for m in measures]


def hit_rate_at(qrels: Mapping[str, Mapping[str, int]], results: Mapping[str, Mapping[str, float]], k: int) -> float:
    """Share of queries with at least one relevant document in the top k (hit rate).

    With one fact stated in several near-identical passages, finding any one of them answers
    the question, so a hit counts rather than the share of relevant passages found.
    """
    return _means(qrels, results, [Success@k])[0]


def mrr_at(qrels, results, k: int) -> float:
    """Mean reciprocal rank of the first relevant document in the top k (0 when none is)."""
    return _means(qrels, results, [RR@k])[0]


def ndcg_at(qrels, results, k: int) -> float:
    """Normalised discounted cumulative gain at k, with the relevance grade as the gain."""
    return _means(qrels, results, [nDCG@k])[0]


def retrieval_metrics(qrels, results) -> dict[str, float]:
    return dict(zip(RETRIEVAL_MEASURES, _means(qrels, results, list(RETRIEVAL_MEASURES.values()))))


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
