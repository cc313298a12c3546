import re

import numpy as np
from langchain_core.documents import Document

from assistant.answering import (ANSWERED, CAVEAT, OUT_OF_SCOPE, Evidence, ExtractiveComposer,
                                 score_units)
from assistant.retrieval import UnitRecord


def _vec(*values):
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def _unit(uid, text, vector, chunk="c1"):
    return UnitRecord(uid, chunk, 0, text, vector)


META = {"c1": {"title": "Guide", "section": "Results", "source": "guide.txt"},
        "c2": {"title": "Guide", "section": "Aftercare", "source": "guide.txt"}}


def _evidence(units, query_vec, focus=()):
    return Evidence("q", "q", [Document("x", metadata={"chunk_id": "c1"})],
                    score_units(query_vec, units, list(focus)), META)


def test_every_marker_has_a_citation_and_every_citation_is_used():
    q = _vec(1, 0, 0)
    units = [_unit("a", "Results last for months.", _vec(1, 0.5, 0)),
             _unit("b", "Maintenance keeps them.", _vec(1, 0, 0.55), chunk="c2")]
    answer = ExtractiveComposer(margin=0.2)(_evidence(units, q))
    assert answer.status == ANSWERED and answer.caveat == CAVEAT
    markers = [int(m) for m in re.findall(r"\[(\d+)\]", answer.answer)]
    assert markers == [c.n for c in answer.citations] == [1, 2]
    assert answer.answer == "Results last for months. [1] Maintenance keeps them. [2]"
    assert [c.section for c in answer.citations] == ["Results", "Aftercare"]
    assert answer.citations[0].quote == "Results last for months."


def test_redundant_sentences_are_cited_once():
    q = _vec(1, 0, 0)
    units = [_unit("a", "Results last for months.", _vec(1, 0.1, 0)),
             _unit("b", "The results last many months.", _vec(1, 0.1, 0))]
    answer = ExtractiveComposer()(_evidence(units, q))
    assert len(answer.citations) == 1


def test_weak_sentences_are_left_out():
    q = _vec(1, 0, 0)
    units = [_unit("a", "Results last for months.", _vec(1, 0, 0)),
             _unit("b", "Sun protection matters.", _vec(0.3, 1, 0))]
    answer = ExtractiveComposer()(_evidence(units, q))
    assert [c.quote for c in answer.citations] == ["Results last for months."]


def test_lead_ins_are_never_evidence():
    q = _vec(1, 0, 0)
    scored = score_units(q, [_unit("a", "Here's a breakdown:", _vec(1, 0, 0))], [])
    assert scored == []
    assert ExtractiveComposer()(Evidence("q", "q", [], scored, META)).status == OUT_OF_SCOPE


def test_shared_words_break_near_ties():
    q = _vec(1, 0, 0)
    units = [_unit("a", "Results vary by skin type.", _vec(1, 0.02, 0)),
             _unit("b", "The number of sessions varies.", _vec(1, 0, 0.03))]
    scored = score_units(q, units, ["sessions"])
    assert scored[0].unit.id == "b" and scored[0].score > scored[0].similarity


def test_a_further_sentence_must_add_something():
    q = _vec(1, 0, 0)
    first = _unit("a", "The number of sessions varies by skin.", _vec(1, 0.3, 0))
    filler = _unit("b", "Sessions are spaced weeks apart.", _vec(1, 0, 0.5), chunk="c2")
    same_section = _unit("c", "Sessions depend on the skin condition too.", _vec(1, 0.2, 0.55))
    meta = META | {"c2": {"title": "Other", "section": "Elsewhere", "source": "other.txt"}}
    scored = score_units(q, [first, filler, same_section], ["sessions"])
    answer = ExtractiveComposer(strong_similarity=0.95)(Evidence("q", "q", [], scored, meta))
    # The filler covers no new word, comes from another document and is not strong enough;
    # the other sentence of the best one's section stays.
    assert [c.quote for c in answer.citations] == [first.text, same_section.text]
