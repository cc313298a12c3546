"""The relevance model's parts and its calibration, on small hand-made data (fake embedder)."""

from dataclasses import replace

import numpy as np
import pytest

from assistant.answer.relevance import FEATURES, SIGNALS, RelevanceModel, RelevanceScorer, question_terms
from assistant.answer.retrieval import Vocabulary
from evals.calibrate import (Observation, choose_closest_threshold, choose_threshold, choose_urgent_threshold,
                             fit_ranking, outcomes, reach)


def test_spelling_correction_touches_only_words_english_does_not_have():
    vocabulary = Vocabulary(["Isotretinoin (Accutane) in the last twelve months.", "Microneedling plan and dermal fillers."])
    assert vocabulary.correct("accutain") == "accutane"
    assert vocabulary.correct("microneedeling") == "microneedling"
    assert vocabulary.correct("plane") == "plane" and vocabulary.correct("derma") == "derma"  # real words stay
    assert vocabulary.correct_text("is accutain ok on a plane") == "is accutane ok on a plane"


def test_a_word_every_passage_uses_weighs_little_and_a_missing_one_fully(fake_embedder):
    [words] = fake_embedder.embed_words(["does microneedling help melasma"])
    spread = {"microneedling": 0.1}  # the clinic's topic word: in every passage
    terms = question_terms(words, None, lambda w: spread.get(w, 1.0))
    weight = dict(zip(terms.words, terms.weights))
    assert weight["melasma"] > max(weight["help"], weight["does"])
    assert weight["microneedling"] < weight["melasma"] / 5
    assert [terms.words[i] for i in terms.informative] == ["melasma"]


def test_the_unit_that_covers_the_rare_word_scores_higher_on_every_signal(fake_embedder):
    scorer = RelevanceScorer(fake_embedder, RelevanceModel((1.0,) * len(SIGNALS), 0.0, 0.5))
    question = "how long between microneedling sessions"
    texts = ["Microneedling sessions are spaced five weeks apart.", "Microneedling takes about an hour."]
    features = scorer.signals(scorer.question(question), fake_embedder.embed_query(question),
                              ["a", "b"], texts, fake_embedder.embed_batch(texts))
    assert (features[0] >= features[1]).all() and features[0, SIGNALS.index("worst")] > features[1, SIGNALS.index("worst")]
    scorer.signals(scorer.question(question), fake_embedder.embed_query(question), ["a", "b"], texts,
                   fake_embedder.embed_batch(texts))
    assert len(scorer._cache) == 2  # unit word vectors are computed once and cached by unit id


def _observation(answerable, rows, labels):
    return Observation("c", "q", answerable, np.asarray(rows, dtype=np.float32), np.asarray(labels, dtype=bool))


def test_the_ranking_fit_puts_its_weight_on_what_tells_the_evidence_apart():
    # Feature 1 marks the evidence unit; the others are noise.
    rng = np.random.default_rng(0)
    observations = []
    for _ in range(30):
        rows = rng.random((6, len(FEATURES)))
        rows[0, 1] += 1.0
        observations.append(_observation(True, rows, [True] + [False] * 5))
    weights = fit_ranking(observations)
    assert int(np.argmax(weights)) == 1


def test_the_threshold_and_the_outcomes_it_gives():
    model = RelevanceModel((1.0, 0.0, 0.0, 0.0), 0.0, 0.5)
    answerable = [_observation(True, [[4.0, 0, 0, 0], [1.0, 0, 0, 0]], [True, False]) for _ in range(3)]
    unanswerable = [_observation(False, [[-4.0, 0, 0, 0]], [False]) for _ in range(3)]
    wrong = [_observation(True, [[4.0, 0, 0, 0], [1.0, 0, 0, 0]], [False, True])]
    tally = outcomes(model, answerable + unanswerable + wrong, 0.5)
    assert tally == {"in_right": 3, "in_wrong": 1, "in_closest_shown": 0, "in_closest_missed": 0, "in_refused": 0,
                     "out_answered": 0, "out_closest": 0, "out_refused": 3}
    threshold = choose_threshold(model, answerable + unanswerable)
    assert 1 / (1 + np.exp(4.0)) < threshold < 1 / (1 + np.exp(-4.0))


def test_the_closest_band_shows_evidence_the_answer_threshold_would_refuse():
    model = RelevanceModel((1.0, 0.0, 0.0, 0.0), 0.0, 0.9, closest_threshold=0.2)
    # sigmoid(0.5) = 0.62: below the answer threshold, inside the band; the evidence is second.
    in_band = _observation(True, [[0.5, 0, 0, 0], [0.2, 0, 0, 0], [-3.0, 0, 0, 0]], [False, True, False])
    out_of_band = _observation(True, [[0.5, 0, 0, 0], [0.4, 0, 0, 0], [0.3, 0, 0, 0]], [False, False, True])
    near_topic = _observation(False, [[0.0, 0, 0, 0]], [False])
    far = _observation(False, [[-3.0, 0, 0, 0]], [False])
    tally = outcomes(model, [in_band, out_of_band, near_topic, far], model.threshold, model.closest_threshold)
    assert (tally["in_closest_shown"], tally["in_closest_missed"]) == (1, 1)  # at most two passages shown
    assert (tally["out_closest"], tally["out_refused"]) == (1, 1)
    # With many answerable questions in the band and unanswerable ones far below, a band pays.
    observations = [in_band] * 5 + [far] * 5
    closest = choose_closest_threshold(model, observations)
    assert closest < model.threshold and outcomes(model, observations, model.threshold, closest)["in_closest_shown"] == 5


def test_the_model_reads_only_its_own_feature_columns():
    model = RelevanceModel((1.0, 1.0), 0.0, 0.5, closest_threshold=0.3, features=("cosine", "learned"))
    rows = np.array([[0.5, 9.0, 9.0, 9.0, 2.0]], dtype=np.float32)
    assert model.probability(rows)[0] == pytest.approx(1 / (1 + np.exp(-2.5)))  # cosine and learned, nothing else


def test_the_urgent_threshold_leans_towards_flagging():
    scores = [(True, 0.8), (True, 0.9), (False, 0.2), (False, 0.4)]
    threshold = choose_urgent_threshold(scores)
    assert 0.4 < threshold < 0.6  # between, five times closer to the ordinary side than to the emergencies
    assert threshold - 0.4 < (0.8 - 0.4) / 4


def test_reach_counts_what_no_threshold_can_change():
    model = RelevanceModel((1.0, 0.0, 0.0, 0.0), 0.0, 0.5)
    right = _observation(True, [[4.0, 0, 0, 0], [1.0, 0, 0, 0]], [True, False])
    ranked_wrong = _observation(True, [[4.0, 0, 0, 0], [1.0, 0, 0, 0]], [False, True])
    missing = _observation(True, [[2.0, 0, 0, 0]], [False])
    weak_right = _observation(True, [[0.5, 0, 0, 0]], [True])
    unanswerable = [_observation(False, [[s, 0, 0, 0]], [False]) for s in (-3.0, -2.0, 1.0)]
    r = reach(model, [right, ranked_wrong, missing, weak_right, *unanswerable])
    assert r["answerable"] == 4 and r["among_candidates"] == 3 and r["ranked_first"] == 2
    # Refusing 90% of the unanswerable needs a threshold above sigmoid(1.0): only "right" stays answered.
    assert r["right_at_target_refusals"] == 1


def test_unit_word_vectors_are_computed_once_and_the_least_recently_used_go_first(fake_embedder):
    runs = []
    original = fake_embedder.embed_words
    fake_embedder.embed_words = lambda texts: runs.append(list(texts)) or original(texts)
    scorer = RelevanceScorer(fake_embedder, RelevanceModel((1.0,) * len(SIGNALS), 0.0, 0.5), cache_size=2)
    scorer.unit_words(["a", "b"], ["rest tonight", "avoid the sun"])
    scorer.unit_words(["a"], ["rest tonight"])  # a cached; a read makes it recently used
    scorer.unit_words(["c"], ["call the clinic"])  # evicts b, not a
    scorer.unit_words(["a", "b"], ["rest tonight", "avoid the sun"])
    assert runs == [["rest tonight", "avoid the sun"], ["call the clinic"], ["avoid the sun"]]
