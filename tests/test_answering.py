import re

import numpy as np

from assistant.answer.answering import (ANSWERED, CAVEAT, CLOSEST, CLOSEST_LEAD, CLOSEST_TAIL, OUT_OF_SCOPE, REFUSAL,
                                        Evidence, ExtractiveComposer, ScoredUnit, quoted_answer)
from assistant.answer.retrieval import UnitRecord


def _vec(*values):
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def _scored(uid, text, probability, vector=(1, 0, 0), chunk="c1", context=""):
    return ScoredUnit(UnitRecord(uid, chunk, text, _vec(*vector), context), probability, 0.5)


META = {"c1": {"title": "Guide", "section": "Results", "source": "guide.txt"},
        "c2": {"title": "Guide", "section": "Aftercare", "source": "guide.txt"}}


def _evidence(*units, threshold=0.5):
    return Evidence("q", list(units), META, threshold)


def test_every_marker_has_a_citation_and_every_citation_is_used():
    answer = ExtractiveComposer()(_evidence(
        _scored("a", "Results last for months.", 0.9, (1, 0.5, 0)),
        _scored("b", "Maintenance keeps them.", 0.85, (0, 1, 0.55), chunk="c2")))
    assert answer.status == ANSWERED and answer.caveat == CAVEAT
    markers = [int(m) for m in re.findall(r"\[(\d+)\]", answer.answer)]
    assert markers == [c.n for c in answer.citations] == [1, 2]
    assert answer.answer == "Results last for months. [1] Maintenance keeps them. [2]"
    assert [c.section for c in answer.citations] == ["Results", "Aftercare"]
    assert answer.citations[0].quote == "Results last for months."


def test_a_unit_is_quoted_with_its_lead_in():
    answer = ExtractiveComposer()(_evidence(
        _scored("a", "You are pregnant or breastfeeding.", 0.9, context="May NOT be suitable for you if:")))
    assert answer.answer == "May NOT be suitable for you if: … You are pregnant or breastfeeding. [1]"
    assert answer.citations[0].quote == "May NOT be suitable for you if: … You are pregnant or breastfeeding."


def test_the_best_unit_leads_and_the_same_words_are_never_quoted_twice():
    answer = ExtractiveComposer()(_evidence(
        _scored("a", "Sessions are spaced five weeks apart.", 0.9, (1, 0, 0)),
        _scored("b", "Sessions are spaced five weeks apart.", 0.88, (0, 1, 0), chunk="c2"),
        _scored("c", "The results last many months and more.", 0.87, (1, 0.1, 0))))
    assert [c.quote for c in answer.citations] == ["Sessions are spaced five weeks apart."]


def test_units_far_below_the_best_or_the_threshold_are_left_out():
    answer = ExtractiveComposer(margin=0.15)(_evidence(
        _scored("a", "Results last for months.", 0.95, (1, 0, 0)),
        _scored("b", "Sun protection matters.", 0.7, (0, 1, 0)),
        _scored("c", "Swelling settles in days.", 0.94, (0, 0, 1))))
    assert [c.quote for c in answer.citations] == ["Results last for months.", "Swelling settles in days."]


def test_at_most_max_units_are_quoted():
    texts = ["Redness fades in days.", "Sessions are weeks apart.", "Numbing cream is applied first.",
             "Sunscreen is needed daily.", "Makeup waits two days.", "Results build over months."]
    units = [_scored(str(i), t, 0.9, tuple(float(i == k) for k in range(6))) for i, t in enumerate(texts)]
    assert len(ExtractiveComposer(max_units=3)(_evidence(*units)).citations) == 3


def test_nothing_answers_below_the_threshold():
    answer = ExtractiveComposer()(_evidence(_scored("a", "Results last for months.", 0.4)))
    assert answer.status == OUT_OF_SCOPE and answer.answer == REFUSAL and answer.citations == ()
    assert ExtractiveComposer()(_evidence()).status == OUT_OF_SCOPE


def test_quotes_under_one_heading_come_together_with_the_heading_written_once():
    hurt, prep = "Does it hurt?", "Before your visit:"
    answer = ExtractiveComposer(max_units=4, redundancy=0.99)(_evidence(
        _scored("a", "Most people feel mild pressure.", 0.9, (1, 0, 0), context=hurt),
        _scored("b", "Arrive with clean skin.", 0.88, (0, 1, 0), chunk="c2", context=prep),
        _scored("c", "Numbing cream is applied first.", 0.86, (0, 0, 1), context=hurt),
        _scored("d", "Results build over months.", 0.85, (0.5, 0.5, 0.7))))
    # The best unit still leads; the other quote under its heading follows it, then the rest.
    assert [c.text for c in answer.citations] == ["Most people feel mild pressure.", "Numbing cream is applied first.",
                                                  "Arrive with clean skin.", "Results build over months."]
    assert [c.n for c in answer.citations] == [1, 2, 3, 4]
    assert answer.answer == ("Does it hurt? … Most people feel mild pressure. [1] Numbing cream is applied first. [2] "
                             "Before your visit: … Arrive with clean skin. [3] Results build over months. [4]")
    # Each citation still quotes its unit whole, with its context: the data says what was quoted.
    assert answer.citations[1].quote == "Does it hurt? … Numbing cream is applied first."
    assert answer.citations[1].context == hurt and answer.citations[3].context == ""
    assert answer.citations[1].to_json()["quote"] == answer.citations[1].quote
    assert answer.answer.count(hurt) == 1 and answer.answer == quoted_answer(answer.citations)


def test_the_closest_passages_share_a_heading_the_same_way():
    hurt = "Does it hurt?"
    answer = ExtractiveComposer()(Evidence("q", [
        _scored("a", "Most people feel mild pressure.", 0.4, (1, 0, 0), context=hurt),
        _scored("b", "Numbing cream is applied first.", 0.35, (0, 1, 0), context=hurt)], META, 0.5, 0.2))
    assert answer.status == CLOSEST
    assert answer.answer == (f"{CLOSEST_LEAD} Does it hurt? … Most people feel mild pressure. [1] Numbing cream is "
                             f"applied first. [2] {CLOSEST_TAIL}")
