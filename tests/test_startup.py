"""The app's start: the warm-up runs beside Gradio's import, and its errors still stop the start."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from assistant.errors import IndexNotReadyError
from assistant.settings import PROJECT_ROOT, Settings
from assistant.web.server import create_web_app, in_background


def test_in_background_runs_beside_the_caller_and_joins():
    started, release, done = threading.Event(), threading.Event(), []

    def work():
        started.set()
        release.wait(5)
        done.append(True)

    join = in_background(work, "test")
    assert started.wait(5)
    assert not done  # the caller goes on while the work runs
    release.set()
    join()
    assert done == [True]


def test_in_background_raises_what_the_work_raised():
    def work():
        raise IndexNotReadyError("no index in X: run `python ingest.py` first")

    join = in_background(work, "test")
    with pytest.raises(IndexNotReadyError, match="run `python ingest.py`"):
        join()


class _Unwarmable:
    """An assistant whose warm-up finds no index, as a fresh install without ingest does."""

    def warm_up(self):
        raise IndexNotReadyError("no index in X: run `python ingest.py` first")


def test_a_failed_warm_up_stops_the_app_before_any_page_is_built(tmp_path, monkeypatch):
    from assistant.web.pages import chat

    built = []
    monkeypatch.setattr(chat, "build_chat_page", lambda *a, **k: built.append(1))
    with pytest.raises(IndexNotReadyError, match="run `python ingest.py`"):
        create_web_app(Settings.from_env({}, data_dir=tmp_path), assistant=_Unwarmable())
    assert built == []


def test_app_py_exits_2_with_the_warm_up_error(tmp_path):
    # A missing model folder fails in the warm-up thread (the model loads there), without torch.
    env = dict(os.environ, DATA_DIR=str(tmp_path), EMBEDDING_MODEL=str(tmp_path / "no-model"), PORT="1")
    run = subprocess.run([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2
    # A warning that the shipped learned model does not fit that model may come first.
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: embedding model folder") and "EMBEDDING_MODEL" in last
    assert "Traceback" not in run.stderr


def test_gradio_is_imported_without_rewriting_its_stubs():
    # In a fresh process: this test session may have imported Gradio already.
    code = ("import sys\n"
            "from assistant.web.server import import_gradio\n"
            "finders = list(sys.meta_path)\n"
            "gr = import_gradio()\n"
            "import gradio.component_meta as meta, gradio.blocks_events as events\n"
            "assert sys.meta_path == finders, 'the finder is left installed'\n"
            "assert meta.create_or_modify_pyi(None, 'Nothing', []) is None\n"  # the real one fails on None
            "assert events.create_or_modify_pyi is meta.create_or_modify_pyi\n"
            "with gr.Blocks() as page:\n    gr.Chatbot()\n"
            "print('ok')\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "ok"
