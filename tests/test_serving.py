"""Serving without torch: the ONNX export is the same model, and the answer path never imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from assistant.settings import PROJECT_ROOT, Settings
from tests.conftest import CORPUS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A data folder with an index of the seeds and the exported serving model, made by ingest.py."""
    data = tmp_path_factory.mktemp("served")
    env = dict(os.environ, DATA_DIR=str(data), CORPUS_DIR=str(CORPUS), HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    run = subprocess.run([sys.executable, "ingest.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert "exported the serving model" in run.stdout
    return Settings.from_env({}, data_dir=data, corpus_dir=CORPUS), env


def test_onnx_vectors_match_the_reference_model(served, real_embedder):
    from assistant.embeddings import OnnxEmbedder, onnx_path, words_path
    from assistant.ingest.cleaning import clean_document
    from assistant.ingest.loading import load_corpus

    from evals.corpora import load_corpora

    settings, _ = served
    assert words_path(onnx_path(settings)).is_file()  # the token table is served from its own file
    onnx = OnnxEmbedder(settings.model_path, onnx_path(settings))
    texts = [u.quote for c in load_corpora() if c.available for d in load_corpus(c.corpus_dir).documents
             for b in clean_document(d).blocks for u in b.units]
    texts += ["is it permanent?", "how many sessions do i need", "ｆｅｖｅｒ", "x" * 3000]
    assert len(texts) >= 200
    cosines = np.sum(onnx.embed_batch(texts) * real_embedder.embed_batch(texts), axis=1)
    assert cosines.min() >= 0.999, f"lowest cosine {cosines.min():.5f}"
    for ours, theirs in zip(onnx.embed_words(texts[:50]), real_embedder.embed_words(texts[:50])):
        assert ours.words == theirs.words
        assert np.sum(ours.vectors * theirs.vectors, axis=1).min() >= 0.999


def test_serving_runs_one_text_at_a_time_with_the_same_vectors(served):
    """One text a run keeps ONNX Runtime's arena small; padding is masked, so the vectors are
    those of runs of eight, bit for bit (answers cannot change with the run size)."""
    from assistant.embeddings import OnnxEmbedder, get_serving_embedder, onnx_path
    from assistant.ingest.cleaning import clean_document
    from assistant.ingest.loading import load_corpus

    settings, _ = served
    serving = get_serving_embedder(settings)
    assert isinstance(serving, OnnxEmbedder) and serving.batch_size == 1
    texts = [u.quote for d in load_corpus(CORPUS).documents for b in clean_document(d).blocks for u in b.units]
    eight = OnnxEmbedder(settings.model_path, onnx_path(settings), batch_size=8)
    assert len(texts) >= 50 and len({len(t) for t in texts}) > 8  # runs of eight mix lengths: padding
    assert np.array_equal(serving.embed_batch(texts), eight.embed_batch(texts))
    for one, run in zip(serving.embed_words(texts), eight.embed_words(texts)):
        assert one.words == run.words and np.array_equal(one.vectors, run.vectors)


def test_answering_imports_no_torch(served):
    _, env = served
    code = ("import sys, json\n"
            "from assistant.settings import Settings\n"
            "from assistant.service import build_assistant\n"
            "a = build_assistant(Settings.from_env())\n"
            "a.warm_up()\n"
            "answer = a.ask('is it permanent?')\n"
            "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
            "print(json.dumps({'embedder': type(a.embedder).__name__, 'status': answer.status, 'heavy': heavy}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"embedder": "OnnxEmbedder", "status": "answered", "heavy": []}


def test_the_command_line_help_imports_no_model_runtime():
    code = ("import sys, runpy\n"
            "sys.argv = ['assistant', '--help']\n"
            "try:\n    runpy.run_module('assistant', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('torch', 'onnxruntime', 'sentence_transformers', 'transformers', 'chromadb') "
            "if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_missing_serving_model_falls_back_to_the_reference(tmp_path):
    from assistant.embeddings import SentenceTransformerEmbedder, get_serving_embedder

    assert isinstance(get_serving_embedder(Settings.from_env({}, data_dir=tmp_path)), SentenceTransformerEmbedder)


def test_the_token_table_gives_the_rows_of_the_saved_matrix(tmp_path):
    from assistant.embeddings import WordTable

    matrix = np.random.default_rng(0).standard_normal((50, 6)).astype(np.float32)
    np.save(tmp_path / "encoder.words.npy", matrix)
    table = WordTable(tmp_path / "encoder.words.npy")
    ids = np.array([[3, 3, 49, 0], [7, 0, 0, 0]])
    assert np.array_equal(table.lookup(ids), matrix[ids])
    with pytest.raises(ValueError, match="out of range"):
        table.lookup(np.array([[50]]))
    np.save(tmp_path / "bad.npy", matrix.astype(np.float64))
    with pytest.raises(ValueError, match="float32"):
        WordTable(tmp_path / "bad.npy")
