import pytest

from assistant.calibration import choose_threshold


def test_threshold_sits_in_the_middle_of_the_gap():
    assert choose_threshold([0.6, 0.7, 0.8], [0.2, 0.3, 0.4]) == 0.5


def test_a_wrong_answer_costs_more_than_a_refusal():
    # One in-scope question scores below one out-of-scope question: refusing it (cost 1)
    # beats answering the out-of-scope one (cost 2).
    t = choose_threshold([0.3, 0.7, 0.8], [0.2, 0.5])
    assert 0.5 < t <= 0.7


def test_floor_rises_to_out_of_scope_evidence_refused_by_words():
    assert choose_threshold([0.5, 0.9], [], other_out_of_scope=[0.3, 0.95]) == 0.4


def test_no_data_is_an_error():
    with pytest.raises(ValueError):
        choose_threshold([], [])
