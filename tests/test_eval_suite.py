"""The evaluation data is well formed, and the assistant meets every quality threshold."""

from collections import Counter

import pytest

from evals.runner import (KINDS, check_thresholds, load_cases, load_promo_lines, load_thresholds,
                          relevant_chunks, run_suite, Case)
from evals.metrics import contains_any
from tests.conftest import corpus_text


def test_there_are_enough_cases_of_every_kind():
    cases = load_cases()
    kinds = Counter(c.kind for c in cases)
    assert len(cases) >= 80
    assert set(kinds) == set(KINDS)
    assert kinds["in_scope"] >= 40 and kinds["out_of_scope"] >= 15


def test_evidence_is_written_against_the_raw_corpus():
    raw = corpus_text()
    for case in load_cases():
        for needle in case.evidence:
            assert contains_any(raw, [needle]), f"{case.id}: {needle!r} is not in corpus/"
    for line in load_promo_lines():
        assert line in raw


def test_relevance_follows_evidence_or_section():
    meta = {"a": {"text": "Results last for months.", "section": "X"}, "b": {"text": "Other.", "section": "Y"}}
    assert relevant_chunks(Case("1", "in_scope", "q", evidence=("last for MONTHS",)), meta) == {"a": 1}
    assert relevant_chunks(Case("2", "in_scope", "q", section="Y"), meta) == {"b": 1}


def test_threshold_check_names_the_metric():
    report = {"retrieval": {"Recall@5": 0.5}, "answers": {"promo_citations": 2}, "latency": {},
              "status": {"accuracy": 1.0, "by_kind": {}}}
    problems = check_thresholds(report, {"min": {"retrieval.Recall@5": 0.9, "status.nope": 1},
                                         "max": {"answers.promo_citations": 0}})
    assert problems == ["retrieval.Recall@5 = 0.500 is below its threshold 0.9",
                        "status.nope: no such metric in the report",
                        "answers.promo_citations = 2.000 is above its limit 0"]


@pytest.mark.integration
def test_quality_thresholds_are_met(real_assistant):
    report = run_suite(real_assistant, load_cases(), load_promo_lines())
    problems = check_thresholds(report, load_thresholds())
    assert not problems, "quality dropped: " + "; ".join(problems)
