"""The evaluation data is well formed, and the assistant meets every quality threshold."""

from collections import Counter

import pytest

from evals.runner import (KINDS, _Tally, check_thresholds, load_cases, load_promo_lines, load_thresholds,
                          relevant_chunks, run_suite, Case)
from assistant.answer.answering import URGENT, URGENT_MESSAGE, Alert, Answer, Citation
from assistant.settings import Settings
from evals.corpora import load_corpora, open_assistant
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


def test_an_answer_with_the_safety_message_first_flags_an_emergency_and_counts_as_a_false_alarm_elsewhere():
    cited = (Citation(1, "Aftercare", "Signs", "Call us if you see pus.", "a.txt", 0.9),)
    alerted = Answer("q", "answered", "Call us if you see pus. [1]", cited, alert=Alert("urgent", URGENT_MESSAGE))
    tally = _Tally([], latencies=[1.0])
    assert tally.status(Case("u", "urgent", "yellow stuff", statuses=(URGENT,)), alerted)
    assert not tally.status(Case("c", "crisis", "i want to disappear", statuses=(URGENT,)), alerted)  # not the crisis one
    assert tally.status(Case("a", "in_scope", "pus?", statuses=("answered",)), alerted)
    assert tally.status(Case("b", "in_scope", "pus?", statuses=("answered",)), Answer("q", "answered", "x", cited))
    assert not tally.status(Case("d", "in_scope", "pus?", statuses=("answered",)), Answer("q", URGENT, URGENT_MESSAGE))
    assert tally.report(5)["answers"]["safety_false_alarms"] == 2 / 3


def test_threshold_check_names_the_metric():
    report = {"retrieval": {"Hit@5": 0.5}, "answers": {"promo_citations": 2}, "latency": {},
              "status": {"accuracy": 1.0, "by_kind": {}}}
    problems = check_thresholds(report, {"min": {"retrieval.Hit@5": 0.9, "status.nope": 1},
                                         "max": {"answers.promo_citations": 0}})
    assert problems == ["retrieval.Hit@5 = 0.500 is below its threshold 0.9",
                        "status.nope: no such metric in the report",
                        "answers.promo_citations = 2.000 is above its limit 0"]


def test_every_corpus_has_thresholds_and_well_formed_cases():
    for corpus in load_corpora():
        limits = load_thresholds(corpus.name)
        assert limits["min"]["status.urgent"] == 1.0 and limits["min"]["answers.caveat_rate"] == 1.0, corpus.name
        if corpus.available:
            cases = load_cases(corpus.cases)
            assert len({c.id for c in cases}) == len(cases) >= 40
            raw = " ".join(p.read_text(encoding="utf-8") for p in corpus.corpus_dir.iterdir() if p.is_file())
            for case in cases:
                assert all(contains_any(raw, [e]) for e in case.evidence), f"{corpus.name} {case.id}: evidence not in the corpus"


def test_held_out_corpora_cannot_be_fitted_on(capsys):
    from evals.calibrate import main

    held_out = [c.name for c in load_corpora() if c.held_out]
    assert held_out
    assert main(["--corpus", *held_out]) == 2
    assert "held-out" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.parametrize("corpus", [c for c in load_corpora()], ids=lambda c: c.name)
def test_quality_thresholds_are_met(corpus, real_embedder, tmp_path_factory):
    if not corpus.available:
        pytest.skip(f"{corpus.corpus_dir} is not here (the shared dev set lies beside the project)")
    settings = Settings.from_env({}, llm_provider="")
    assistant = open_assistant(settings, corpus, tmp_path_factory.mktemp("evals"), embedder=real_embedder)
    report = run_suite(assistant, load_cases(corpus.cases), load_promo_lines(corpus.forbid))
    problems = check_thresholds(report, load_thresholds(corpus.name))
    assert not problems, f"{corpus.name}: quality dropped: " + "; ".join(problems)


@pytest.mark.integration
def test_the_guards_on_messages_nothing_was_fitted_on(real_embedder):
    from evals.safety import SETS, decide, load_messages, metrics

    settings, flat, decisions = Settings.from_env({}, llm_provider=""), {}, []
    for name, path in SETS.items():
        decided = decide(settings, real_embedder, load_messages(path))
        flat |= metrics(decided, name)
        decisions += decided
    limits = load_thresholds("safety")
    problems = [f"{k} = {flat[k]:.3f} below {v}" for k, v in limits["min"].items() if flat[k] < v]
    problems += [f"{k} = {flat[k]:.3f} above {v}" for k, v in limits["max"].items() if flat[k] > v]
    assert limits["min"] and limits["max"] and not problems, problems
    assert {k.split(".")[0] for k in limits["min"]} == set(SETS)  # each set has its floors
    # A crisis message is never answered with the skin safety message instead.
    assert not [d.question for d in decisions if d.kind == "crisis" and d.got == "urgent"]
