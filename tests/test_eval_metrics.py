"""The evaluation metrics on small hand-made cases whose values are worked out by hand."""

import math

import pytest

from evals.metrics import (citation_scores, confusion, contains_any, latency_summary, mrr_at, ndcg_at,
                           percentile, hit_rate_at, retrieval_metrics, segments, supports)

QRELS = {"q1": {"a": 1}, "q2": {"b": 1, "c": 1}, "q3": {"z": 1}}
RESULTS = {"q1": {"a": 0.9, "x": 0.5}, "q2": {"x": 0.9, "y": 0.8, "c": 0.7}, "q3": {"x": 1.0}}


def test_hit_rate_at_k():
    assert hit_rate_at(QRELS, RESULTS, 1) == pytest.approx(1 / 3)
    assert hit_rate_at(QRELS, RESULTS, 3) == pytest.approx(2 / 3)


def test_mrr():
    assert mrr_at(QRELS, RESULTS, 10) == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert mrr_at(QRELS, RESULTS, 2) == pytest.approx(1 / 3)


def test_ndcg():
    # q1: perfect (1); q2: one hit at rank 3 of two relevant; q3: none.
    q2 = (1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at(QRELS, RESULTS, 5) == pytest.approx((1 + q2 + 0) / 3)


def test_tied_scores_are_ranked_by_id_for_every_measure():
    qrels, results = {"q": {"a": 0, "d9": 1}}, {"q": {"a": 0.5, "d11": 0.5, "d9": 0.5, "c10": 0.5}}
    # a, c10, d11, d9: the relevant document is fourth.
    assert retrieval_metrics(qrels, results) == pytest.approx(
        {"Hit@1": 0.0, "Hit@3": 0.0, "Hit@5": 1.0, "MRR@10": 0.25, "nDCG@5": 1 / math.log2(5)})


def test_queries_without_relevant_documents_are_left_out():
    assert hit_rate_at({"q": {}}, {"q": {"a": 1}}, 5) == 0.0
    assert set(retrieval_metrics(QRELS, RESULTS)) == {"Hit@1", "Hit@3", "Hit@5", "MRR@10", "nDCG@5"}


def test_segments_pair_sentences_with_markers():
    assert segments("A one. [1] B two. B2. [2][3] C three.") == [
        ("A one.", [1]), ("B two. B2.", [2, 3]), ("C three.", [])]
    assert segments("First. Second [1].") == [("First. Second", [1])]
    assert segments("") == []


def test_citation_precision_and_recall():
    quotes = {1: "Results last for months.", 2: "Sun protection helps."}
    assert citation_scores("Results last for months. [1]", quotes) == (1.0, 1.0)
    # Sentence 2 cites a passage that does not support it; sentence 3 cites nothing.
    p, r = citation_scores("Results last for months. [1] Needles hurt a lot. [2] Invented. ", quotes)
    assert p == pytest.approx(1 / 2) and r == pytest.approx(1 / 3)
    # A marker with no citation behind it is unsupported.
    assert citation_scores("Results last for months. [7]", quotes) == (0.0, 0.0)


def test_supports_and_contains_any_fold_quotes_and_case():
    assert supports("It’s “permanent” they say.", 'it\'s "permanent"')
    assert not supports("Sun protection helps.", "Results last for months")
    assert contains_any("NOT entirely “permanent”", ['not entirely "permanent"'])


def test_latency_and_percentile():
    values = list(range(1, 101))
    assert percentile(values, 95) == 95 and percentile([5.0], 95) == 5.0
    assert latency_summary([1.0, 2.0, 3.0]) == {"median_ms": 2.0, "p95_ms": 3.0}
    with pytest.raises(ValueError):
        percentile([], 50)


def test_confusion_table():
    assert confusion([("answered", "answered"), ("answered", "out_of_scope"), ("urgent", "urgent")]) == {
        "answered": {"answered": 1, "out_of_scope": 1}, "urgent": {"urgent": 1}}
