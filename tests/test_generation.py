"""Language-model answers under the same guarantees, with fake chat models (no model server runs
here; a real one is tested when LLM_BASE_URL is set)."""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import replace

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from assistant.answer.answering import ANSWERED, CAVEAT, OUT_OF_SCOPE, URGENT
from assistant.answer.chain import Turn
from assistant.index import ChromaIndex, open_client
from assistant.ingest.ingestion import run_ingest
from assistant.service import build_assistant
from tests.conftest import quotes_with_markers


class ScriptedModel(BaseChatModel):
    """Writes its reply from the passages in the prompt: ``script(passages, prompt) -> text``."""

    script: object
    delay: float = 0.0
    release: object = None  # a threading.Event: the reply waits for it (at most 60 s)
    calls: int = 0
    finished: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.release is not None:
            self.release.wait(60)
        prompt = messages[-1].content
        passages = dict((int(n), t) for n, t in re.findall(r"^\[(\d+)\] (.*)$", prompt, flags=re.M))
        text = self.script(passages, prompt)
        self.finished += 1
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


@pytest.fixture
def indexed(settings, fake_embedder):
    client = open_client(settings)
    run_ingest(settings, fake_embedder, ChromaIndex(client, settings.collection), progress=False)
    return settings, fake_embedder, client


def _assistant(indexed, script, **kw):
    settings, embedder, client = indexed
    model = ScriptedModel(script=script, **kw)
    settings = replace(settings, llm_timeout=kw.get("timeout", 5.0)) if "timeout" in kw else settings
    return build_assistant(settings, embedder=embedder, client=client, chat_model=model), model


QUESTION = "What is collagen induction therapy?"


def test_supported_sentences_with_real_markers_survive(indexed):
    assistant, model = _assistant(indexed, lambda p, _: f"{p[1]} [1]")
    answer = assistant.ask(QUESTION)
    assert (answer.status, answer.answerer, answer.caveat) == (ANSWERED, "llm", CAVEAT)
    assert answer.answer.endswith("[1]") and [c.n for c in answer.citations] == [1]
    assert answer.citations[0].quote in answer.answer


def test_invented_markers_are_removed_and_unsupported_sentences_dropped(indexed):
    script = lambda p, _: (f"Microneedling cures baldness in one visit [1]. {p[2]} [2] [9]. "
                           "Call us today for a discount.")  # noqa: E731
    assistant, _ = _assistant(indexed, script)
    answer = assistant.ask(QUESTION)
    assert answer.answerer == "llm"
    assert "[9]" not in answer.answer and "baldness" not in answer.answer and "discount" not in answer.answer
    # The surviving sentence is renumbered: its passage is now citation 1.
    assert re.findall(r"\[(\d+)\]", answer.answer) == ["1"] and len(answer.citations) == 1


def test_a_model_error_falls_back_offline(indexed):
    assistant, model = _assistant(indexed, lambda p, _: (_ for _ in ()).throw(RuntimeError("server down")))
    answer = assistant.ask(QUESTION)
    assert model.calls == 1
    assert (answer.status, answer.answerer, answer.caveat) == (ANSWERED, "extractive-fallback", CAVEAT)
    assert answer.answer == quotes_with_markers(answer.citations)


@pytest.mark.parametrize("reply", ["", "Microneedling results are permanent forever [1].", "No markers at all."])
def test_empty_or_unsupported_output_falls_back_offline(indexed, reply):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    settings, embedder, client = indexed
    model = FakeListChatModel(responses=[reply])
    answer = build_assistant(settings, embedder=embedder, client=client, chat_model=model).ask(QUESTION)
    assert (answer.status, answer.answerer, answer.caveat) == (ANSWERED, "extractive-fallback", CAVEAT)
    assert "forever" not in answer.answer


def test_timeout_falls_back_without_waiting_for_the_model(indexed):
    settings, embedder, client = indexed
    release = threading.Event()  # the model answers only once the test lets it
    model = ScriptedModel(script=lambda p, _: f"{p[1]} [1]", release=release)
    assistant = build_assistant(replace(settings, llm_timeout=0.3), embedder=embedder, client=client, chat_model=model)
    try:
        answer = assistant.ask(QUESTION)
        # The reply came while the model was still writing: the answer did not wait for it.
        assert model.calls >= 1 and model.finished == 0
        assert answer.answerer == "extractive-fallback" and answer.caveat == CAVEAT
    finally:
        release.set()


@pytest.mark.parametrize("question, status", [
    ("There is pus coming out of my cheek", URGENT),
    ("What does a chemical peel cost?", OUT_OF_SCOPE),
    ("", "invalid"),
])
def test_guards_run_before_the_model(indexed, question, status):
    assistant, model = _assistant(indexed, lambda p, _: "should never be asked")
    answer = assistant.ask(question)
    assert answer.status == status and answer.answerer == "guard" and model.calls == 0


def test_follow_ups_are_condensed_by_the_model(indexed):
    seen = []

    def script(passages, prompt):
        if prompt.startswith("Rewrite the last question"):
            seen.append(prompt)
            return "What is collagen induction therapy and how does it work?"
        return f"{passages[1]} [1]"

    assistant, model = _assistant(indexed, script)
    turns = assistant.steps.contextualise(Turn("and how does it work?", (QUESTION,)))
    assert seen and QUESTION in seen[0]
    assert len(turns) == 1 and turns[0].query == "What is collagen induction therapy and how does it work?"


@pytest.mark.skipif(not os.environ.get("LLM_BASE_URL"), reason="set LLM_BASE_URL (and LLM_MODEL) to test a real model server")
def test_real_openai_compatible_server(indexed):
    settings, embedder, client = indexed
    settings = replace(settings, llm_provider=os.environ.get("LLM_PROVIDER", "openai"),
                       llm_base_url=os.environ["LLM_BASE_URL"], llm_model=os.environ.get("LLM_MODEL", "default"),
                       llm_api_key=os.environ.get("LLM_API_KEY", ""), llm_timeout=60)
    answer = build_assistant(settings, embedder=embedder, client=client).ask(QUESTION)
    assert answer.caveat == CAVEAT and answer.answerer in ("llm", "extractive-fallback")
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)]
    assert sorted(set(markers)) == [c.n for c in answer.citations]
