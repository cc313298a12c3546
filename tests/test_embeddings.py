"""The embedder's query cache (cachetools' LRU behind a lock), with the fake embedder."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tests.conftest import HashingEmbedder


class SmallCache(HashingEmbedder):
    query_cache_size = 3


def test_a_repeated_question_runs_the_model_once():
    embedder = HashingEmbedder()
    first = embedder.embed_query("does microneedling hurt")
    words = embedder.query_words("does microneedling hurt")
    assert embedder.calls == 1
    assert np.array_equal(first, embedder.embed_query("does microneedling hurt"))
    assert words.words == ("does", "microneedling", "hurt")
    embedder.clear_query_cache()
    embedder.embed_query("does microneedling hurt")
    assert embedder.calls == 2


def test_the_least_recently_used_question_is_dropped_first():
    embedder = SmallCache()
    for text in ("a cost", "b pain", "c sun"):
        embedder.embed_query(text)
    embedder.embed_query("a cost")  # now the most recent
    embedder.embed_query("d acne")  # evicts "b pain"
    assert embedder.calls == 4
    embedder.embed_query("a cost")
    assert embedder.calls == 4
    embedder.embed_query("b pain")
    assert embedder.calls == 5
    assert len(embedder._query_cache) == 3


def test_threads_share_the_cache_and_get_their_own_vectors():
    embedder = SmallCache()
    texts = [f"question {i} about word{i}" for i in range(12)]
    expected = {t: HashingEmbedder().embed_batch([t])[0] for t in texts}

    def ask(i: int) -> bool:
        text = texts[i % len(texts)]
        return np.array_equal(embedder.embed_query(text), expected[text])

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(ask, range(2000)))
    assert len(embedder._query_cache) <= 3
