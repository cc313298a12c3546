"""The compact word-frequency table gives exactly wordfreq's figures, in a tenth of the memory."""

from __future__ import annotations

import random

import wordfreq

from assistant.word_frequency import zipf_frequency


def test_every_listed_word_and_made_up_ones_score_as_wordfreq_scores_them():
    words = list(wordfreq.iter_wordlist("en"))
    rng = random.Random(13)
    made_up = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 10)))
               for _ in range(5000)]
    made_up += [w + "s" for w in words[::97]] + [w[:-1] for w in words[::97] if len(w) > 2]
    # Digits, apostrophes, hyphens, full-width and accented letters, several tokens, nothing at all;
    # and "kp" with "火", whose str hashes are equal (same bytes in memory).
    made_up += ["2024", "3rd", "10mg", "1,000", "don't", "isn't", "micro-needling", "covid-19", "ｆｅｖｅｒ",
                "café", "naïve", "two words", "", "   ", "x" * 40, "kp", "火", "の"]
    assert len(words) > 300_000
    wrong = [(w, zipf_frequency(w), wordfreq.zipf_frequency(w, "en")) for w in words + made_up
             if zipf_frequency(w) != wordfreq.zipf_frequency(w, "en")]
    assert wrong == []
