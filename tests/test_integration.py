"""The real embedding model and a real Chroma index on disk, over the real corpus."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from assistant.answer.answering import (ANSWERED, CAVEAT, CLOSEST, CLOSEST_LEAD, CLOSEST_MAX_UNITS, INVALID,
                                       OUT_OF_SCOPE, URGENT)
from assistant.settings import PROJECT_ROOT
from tests.conftest import corpus_text, free_port, quote_in_corpus, quotes_with_markers

pytestmark = pytest.mark.integration

PROMO_LINES = [
    "Get updated with beauty resources, tips, and news",
    "This post was created with our nice and easy submission form.",
    "What do you think?",
    "IV Therapy main 2",
    "Optimize Your Workouts with IV Hydration",
    "Benefits of our Law Assignment Help Australia",
]

IN_SCOPE = [
    "How long do microneedling results last?",
    "Is microneedling permanent?",
    "Does microneedling help with acne scars?",
    "how many sessions do i need",
    "what does my skin look like right after a session",
    "What is microneedling?",
    "Is redness normal after microneedling?",
    "what factors affect how long results last",
    "microneedlng results permanant?",
    "Why are maintenance treatments needed?",
]
# Far from anything the seeds say. Near-topic questions the seeds do not answer (price,
# pregnancy, retinol) are counted by the evaluation suite, whose out-of-scope rate is a threshold.
OUT_OF_SCOPE_QUESTIONS = [
    "What is the capital of France?",
    "Tell me about IV therapy",
    "Can you help with my law assignment?",
]
# About the clinic but not in the seeds: never a direct answer; at most the closest passages,
# said plainly not to answer it.
NEAR_TOPIC_QUESTIONS = [
    "How much does microneedling cost?",
    "Can I book an appointment for Tuesday?",
    "What are your opening hours?",
]


def _all_chunk_texts(assistant) -> list[str]:
    snapshot = assistant.reader.current()
    return [m["text"] for m in snapshot.meta.values()]


def test_cleaning_drops_promo_lines_and_keeps_the_article(real_assistant, real_index_report):
    texts = "\n".join(_all_chunk_texts(real_assistant))
    for promo in PROMO_LINES:
        assert promo not in texts
    dropped = " ".join(d.text for _, d in real_index_report.dropped)
    for promo in PROMO_LINES:
        assert promo in dropped
    for article_sentence in [
        "The number of sessions required can vary depending on the severity of the skin condition",
        "However, the natural aging process continues, and collagen production will eventually decline again.",
        "Lifestyle factors such as sun exposure, smoking, and diet can also impact the longevity of results.",
    ]:
        assert article_sentence in texts


def test_near_duplicates_collapse(real_assistant):
    texts = _all_chunk_texts(real_assistant)
    repeated = "This is a normal reaction and typically subsides within a few hours to a couple of days."
    assert sum(t.count(repeated) for t in texts) == 1
    definition = "is a minimally invasive cosmetic procedure that involves using"
    assert sum(t.count(definition) for t in texts) == 1


def test_sections_come_from_recognised_headings(real_assistant):
    sections = {m["section"] for m in real_assistant.reader.current().meta.values()}
    assert "Maintenance and Follow-Up Treatments" in sections
    assert "Factors Influencing Results › Lifestyle Factors" in sections
    # A label nests under its heading: no "Lifestyle Factors" section stands on its own.
    assert all(s.startswith("Factors Influencing Results › ") for s in sections if "Lifestyle Factors" in s)


@pytest.mark.parametrize("question", IN_SCOPE)
def test_answers_are_quotes_with_matching_citations(real_assistant, question):
    answer = real_assistant.ask(question)
    assert answer.status == ANSWERED, question
    assert answer.caveat == CAVEAT
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)]
    assert markers == [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    corpus = corpus_text()
    for c in answer.citations:
        assert quote_in_corpus(c.quote, corpus), c.quote
        assert c.title and c.section and c.source.endswith(".txt")
    # No word of the answer is the assistant's own: it is exactly the quotes with their markers,
    # a lead-in or heading that quotes share written once, before the first of them.
    assert answer.answer == quotes_with_markers(answer.citations)


@pytest.mark.parametrize("question, expected", [
    ("How many sessions will I need?", "number of sessions"),
    ("Is redness normal after microneedling?", "normal reaction"),
    ("Does it help acne scars?", "cne scar"),
    ("Are the results permanent?", "permanent"),
])
def test_answers_contain_the_expected_evidence(real_assistant, question, expected):
    assert expected in real_assistant.ask(question).answer


@pytest.mark.parametrize("question", OUT_OF_SCOPE_QUESTIONS)
def test_out_of_scope_questions_are_refused(real_assistant, question):
    answer = real_assistant.ask(question)
    assert (answer.status, answer.citations, answer.caveat) == (OUT_OF_SCOPE, (), CAVEAT)


@pytest.mark.parametrize("question", NEAR_TOPIC_QUESTIONS)
def test_near_topic_questions_get_no_direct_answer(real_assistant, question):
    answer = real_assistant.ask(question)
    assert answer.status in (OUT_OF_SCOPE, CLOSEST) and answer.caveat == CAVEAT
    assert len(answer.citations) <= CLOSEST_MAX_UNITS
    if answer.status == CLOSEST:
        assert answer.answer.startswith(CLOSEST_LEAD)


@pytest.mark.parametrize("question, status", [
    ("My skin has pus and the redness is spreading", URGENT),
    ("I have trouble breathing after microneedling", URGENT),
    ("my lips are swelling after the treatment", URGENT),
    ("", INVALID),
    ("\x1b[31m red text", INVALID),
])
def test_urgent_and_invalid(real_assistant, question, status):
    answer = real_assistant.ask(question)
    assert (answer.status, answer.caveat) == (status, CAVEAT)


@pytest.mark.parametrize("message", [
    "the needle marks are still bleeding hours later and I can't get it to stop",
    "my throat feels tight and my lips are puffing up",
    "there's yellow gunk oozing from the spots on my chin",
    "got the chills and a temperature since yesterday's session",
    "ｆｅｖｅｒ after my treatment",  # full-width letters
    "fe\u200bver after my treatment",  # a zero-width space inside the word
    "th\u0435re's \u0440us on my chin",  # Cyrillic look-alike letters
    "\ua730ever after my treatment",  # a small-capital F
    "\u1d18\u1d1cs on my chin",  # small-capital P and U
    "b\u0280eathing is hard since the session",  # the IPA small-capital R
    "the bleedng wont stop",  # a mistyped sign word
])
def test_paraphrased_emergencies_get_the_safety_message(real_assistant, message):
    assert real_assistant.ask(message).status == URGENT


@pytest.mark.parametrize("message", [
    "honestly i just want to hurt myself",
    "thinking about suicide because of my acne",
])
def test_crisis_language_gets_the_crisis_message(real_assistant, message):
    answer = real_assistant.ask(message)
    assert (answer.status, answer.answerer, answer.citations) == (URGENT, "crisis", ())
    assert "988" in answer.answer and "emergency number" in answer.answer


def test_a_question_the_documents_answer_gets_the_crisis_message_first_when_a_learned_reading_fires(real_assistant):
    # Only the learned crisis reading fires on it; it can be wrong (it fired on a held-out
    # "can i do monthly payments..."), so the answer still comes, after the crisis message.
    question = "honestly some days i wish i could just disappear because of my scars, does microneedling work on acne scars"
    answer = real_assistant.ask(question)
    assert answer.status == ANSWERED and answer.citations and answer.caveat == CAVEAT
    assert answer.alert is not None and answer.alert.kind == "crisis" and "988" in answer.alert.message
    assert answer.crisis and answer.safety_first and answer.to_json()["alert"]["kind"] == "crisis"
    # Crisis language in a sentence of its own is read on its own, whatever the question beside it.
    mixed = real_assistant.ask("does microneedling help acne scars? i hate my face so much i want to hurt myself")
    assert mixed.crisis and mixed.safety_first


@pytest.mark.parametrize("question", [
    "can I still come in if I have a skin infection right now?",
    "saw tiny dots of blood during the treatment, is that normal?",
    "is it normal to be a bit red and swollen the next day?",
    "pt no-showed bc of a family emergency, can we waive the fee",
])
def test_eligibility_and_normal_healing_questions_are_not_emergencies(real_assistant, question):
    assert real_assistant.ask(question).status != URGENT


def test_follow_up_uses_history(real_assistant):
    first = "Does microneedling help with acne scars?"
    answer = real_assistant.ask("how many sessions for that?", history=[first])
    assert answer.status == ANSWERED
    assert "sessions" in answer.answer


def test_model_loads_once(real_assistant, real_embedder):
    for q in IN_SCOPE[:3]:
        real_assistant.ask(q)
    assert real_embedder.loads == 1


def test_lookup_ranks_passages_with_scores(real_assistant):
    docs = real_assistant.lookup("maintenance treatments", k=3)
    assert len(docs) == 3
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    assert any("maint" in d.page_content.lower() for d in docs)


# --- entry points as separate processes ---------------------------------------------

def _run(args, settings, stdin=None, extra_env=None):
    env = os.environ | {"DATA_DIR": str(settings.data_dir), "CORPUS_DIR": str(settings.corpus_dir),
                        "HF_HUB_OFFLINE": "1", "CHROMA_HOST": settings.chroma_host,
                        "CHROMA_PORT": str(settings.chroma_port), "COLLECTION": settings.collection} | (extra_env or {})
    return subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, input=stdin, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_ask_json_reads_questions_from_stdin(real_settings, real_index_report):
    result = _run(["-m", "assistant", "ask", "--json", "-"], real_settings,
                  stdin="Is microneedling permanent?\nHow much does it cost?\n\nI have a fever\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in rows] == ["answered", "out_of_scope", "urgent"]
    for row in rows:
        assert set(row) == {"question", "status", "answer", "citations", "caveat", "latency_ms", "answerer", "alert"}
        assert re.findall(r"\[(\d+)\]", row["answer"]) == [str(c["n"]) for c in row["citations"]]
        assert row["caveat"] == CAVEAT


def test_cli_lookup_json(real_settings, real_index_report):
    result = _run(["-m", "assistant", "lookup", "acne", "scars", "--k", "2", "--json"], real_settings)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2]
    assert all({"title", "section", "score", "text"} <= set(r) for r in rows)


def test_cli_without_index_explains_what_to_do(tmp_path, real_settings):
    empty = real_settings.__class__.from_env({}, corpus_dir=real_settings.corpus_dir, data_dir=tmp_path / "none")
    result = _run(["-m", "assistant", "ask", "hello"], empty)
    assert result.returncode == 2
    assert "run `python ingest.py` first" in result.stderr and "Traceback" not in result.stderr


def test_ingest_explain_lists_dropped_lines(settings):
    result = _run(["ingest.py", "--explain"], settings)
    assert result.returncode == 0, result.stderr
    assert "Benefits of our Law Assignment Help Australia" in result.stdout
    assert "near-duplicate of line" in result.stdout
    assert "The assistant now answers from 2 documents" in result.stdout and "left out" in result.stdout
    again = _run(["ingest.py"], settings)
    assert "Nothing to update" in again.stdout and "0 texts read by the model" in again.stdout


def test_ingest_reports_skipped_files_with_exit_code_1(settings):
    (settings.corpus_dir / "scan.pdf").write_bytes(b"not a pdf at all")
    result = _run(["ingest.py"], settings)
    assert result.returncode == 1
    assert "skipped scan.pdf" in result.stdout + result.stderr


# --- the chat page over real HTTP ---------------------------------------------------


def test_gradio_chat_answers_with_sources_and_caveat(real_assistant):
    from gradio_client import Client

    from assistant.web.pages.chat import build_chat_page

    demo = build_chat_page(real_assistant)
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                        share=False, quiet=True, ssr_mode=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        reply = client.predict("Is microneedling permanent? <script>alert(1)</script>", api_name="/chat")
        assert "[1]" in reply and "Sources:" in reply
        assert "not truly permanent" in reply
        assert "<script>" not in reply
        refusal = client.predict("How much does it cost?", api_name="/chat")
        assert "can't answer that" in refusal and "not truly permanent" in refusal
    finally:
        demo.close()


def test_chat_page_has_no_share_button(real_assistant):
    from assistant.web.pages.chat import build_chat_page

    config = build_chat_page(real_assistant).get_config_file()
    chatbots = [c for c in config["components"] if c["type"] == "chatbot"]
    assert chatbots and all("share" not in c["props"]["buttons"] for c in chatbots)


def test_real_model_ingest_is_incremental_and_forgets_removed_files(settings, real_settings, real_embedder):
    from dataclasses import replace

    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest

    # The same store as the rest of this run (folder or server), in a collection of its own.
    settings = replace(settings, chroma_host=real_settings.chroma_host, chroma_port=real_settings.chroma_port,
                       collection="incremental")
    index = ChromaIndex(open_client(settings), settings.collection)
    first = run_ingest(settings, real_embedder, index, progress=False)
    assert first.texts_embedded > 0
    assert run_ingest(settings, real_embedder, index, progress=False).texts_embedded == 0
    (settings.corpus_dir / "does-microneedling-last-permanently.txt").unlink()
    third = run_ingest(settings, real_embedder, index, progress=False)
    assert third.texts_embedded == 0 and third.chunks_removed > 0
    chunks, _ = index.collections(index.active_build().build)
    assert {m["source"] for m in chunks.get()["metadatas"]} == {"microneedling-benefits-over-time.txt"}


def test_cli_report_reads_the_feedback(tmp_path, real_settings):
    from assistant.web.feedback import FeedbackStore, Vote

    settings = real_settings.__class__.from_env({}, corpus_dir=real_settings.corpus_dir, data_dir=tmp_path)
    missing = _run(["-m", "assistant", "report"], settings)
    assert missing.returncode == 2 and "no feedback yet" in missing.stderr
    store = FeedbackStore(settings.feedback_path)
    store.record_question("What does it cost? call 0412 345 678", "out_of_scope")
    store.record_vote(Vote("Is it permanent?", "answered", ("c1",), "down"))
    result = _run(["-m", "assistant", "report"], settings)
    assert result.returncode == 0
    assert "what does it cost? call [phone]" in result.stdout and "1 down, 0 up  is it permanent?" in result.stdout
