"""The training package: patient wording, the pair builder, the shared loop, the late-interaction scorer."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from assistant.ingest.cleaning import CONTEXT_JOINER
from assistant.text import split_sentences
from training import data
from training.patient import as_patient_types, typo

MEDQUAD = """<?xml version="1.0" encoding="UTF-8"?>
<Document id="1" source="T"><Focus>Glaucoma</Focus><QAPairs>
<QAPair pid="1"><Question qid="1-1" qtype="information">What is (are) Glaucoma ?</Question>
<Answer>Glaucoma is a group of diseases that damage the eye's optic nerve. It can lead to vision loss and blindness.</Answer></QAPair>
<QAPair pid="2"><Question qid="1-2" qtype="symptoms">What are the symptoms of Glaucoma ?</Question>
<Answer>At first, open-angle glaucoma has no symptoms at all. Later, side vision may slowly be lost.</Answer></QAPair>
<QAPair pid="3"><Question qid="1-3" qtype="treatment">What are the treatments for Glaucoma ?</Answer>
</QAPair></QAPairs></Document>
"""
SQUAD = {"data": [{"title": "Oil_crisis", "paragraphs": [{"context": (
    "The 1973 oil crisis began in October 1973 when OAPEC proclaimed an embargo. "
    "The price of oil rose from three dollars a barrel to nearly twelve dollars. "
    "Several countries introduced rationing of fuel for private cars."),
    "qas": [{"id": "a1", "question": "When did the 1973 oil crisis begin?", "is_impossible": False,
             "answers": [{"text": "October 1973", "answer_start": 29}]},
            {"id": "u1", "question": "When did the 1983 oil crisis end?", "is_impossible": True, "answers": []}]}]}]}
SELQA = [{"question": "Where is the Israel Museum?", "article": "Israel", "section": "Museums", "answers": [0],
          "candidates": ["The Israel Museum in Jerusalem is one of the most important museums.",
                         "Yad Vashem is the world central archive of Holocaust-related information.",
                         "Beth Hatefutsoth is an interactive museum devoted to Jewish communities."]}]


@pytest.fixture()
def qa_root(tmp_path):
    (tmp_path / "medquad" / "1_Test").mkdir(parents=True)
    (tmp_path / "medquad" / "1_Test" / "0001.xml").write_text(MEDQUAD.replace(
        "What are the treatments for Glaucoma ?</Answer>", "What are the treatments for Glaucoma ?</Question><Answer></Answer>"))
    (tmp_path / "squad2-dev").mkdir()
    (tmp_path / "squad2-dev" / "squad2_dev.json").write_text(json.dumps(SQUAD))
    (tmp_path / "selqa-ass" / "ass").mkdir(parents=True)
    for name in ("selqa-ass-dev.json", "selqa-ass-test.json"):
        (tmp_path / "selqa-ass" / "ass" / name).write_text(json.dumps(SELQA))
    return tmp_path


def test_each_answerable_question_has_one_answer_and_hard_negatives(qa_root):
    examples = data.build(qa_root, patient_share=0)
    groups = data.grouped(examples)
    for group_id, group in groups.items():
        positives = [e for e in group if e.label == 1]
        if group_id == "squad2:u1":
            assert positives == [] and {e.kind for e in group} <= {"unanswerable", "random"}
        else:
            assert len(positives) == 1, group_id
            assert any(e.kind == "hard" for e in group), group_id
    glaucoma = [g for k, g in groups.items() if k.startswith("medquad:")]
    assert len(glaucoma) == 2  # the question with an empty answer is left out
    for group in glaucoma:
        positive = next(e for e in group if e.label == 1)
        hard = next(e for e in group if e.kind == "hard")
        assert "(are)" not in positive.question
        # The hard negative answers the other ask about the same disease.
        assert ("symptoms" in hard.passage) != ("symptoms" in positive.passage)


def test_passages_are_shaped_like_units(qa_root):
    for e in data.build(qa_root, patient_share=0):
        heading, _, quote = e.passage.partition(": ")
        assert heading and quote, e.passage
        text = quote.split(CONTEXT_JOINER)[-1]
        assert 1 <= len(split_sentences(text)) <= data.MAX_SENTENCES


def test_squad_answer_sentence_is_the_positive(qa_root):
    group = data.grouped(data.build(qa_root, ("squad2",), patient_share=0))["squad2:a1"]
    positive = next(e for e in group if e.label == 1)
    assert positive.passage.startswith("Oil crisis: The 1973 oil crisis began in October 1973")
    assert all("began in October" not in e.passage for e in group if e.label == 0)


def test_build_is_repeatable_and_seeded(qa_root):
    assert data.build(qa_root, seed=3) == data.build(qa_root, seed=3)
    wordings = {tuple(e.question for e in data.build(qa_root, seed=s)) for s in range(8)}
    assert len(wordings) > 1  # the patient rewrites depend on the seed


def test_one_wording_per_question(qa_root):
    for group in data.grouped(data.build(qa_root, patient_share=1.0)).values():
        assert len({e.question for e in group}) == 1


def test_jsonl_round_trip(qa_root, tmp_path):
    examples = data.build(qa_root)
    path = tmp_path / "out" / "pairs.jsonl"
    assert data.write_jsonl(examples, path) == len(examples)
    assert data.read_jsonl(path) == examples


def test_missing_data_names_the_folder(tmp_path):
    with pytest.raises(data.MissingDataError, match="qa-data"):
        data.build(tmp_path)


def test_typo_is_one_slip():
    rng = random.Random(0)
    for _ in range(200):
        word = rng.choice(["symptoms", "treatment", "glaucoma", "recovery"])
        slipped = typo(word, rng)
        assert abs(len(slipped) - len(word)) <= 1 and slipped[0] == word[0]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_patient_wording_keeps_the_question(seed):
    question = "What are the symptoms of glaucoma in older adults ?"
    typed = as_patient_types(question, random.Random(seed))
    kept = set(re.findall(r"[a-z]+", typed.lower())) & {"symptoms", "glaucoma", "older", "adults"}
    assert len(kept) >= 3  # at most one content word mistyped
    assert as_patient_types(question, random.Random(seed), strength=0) == "What are the symptoms of glaucoma in older adults?"


def test_loop_resumes_from_its_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    from training.loop import LoopConfig, train

    groups = [[float(i)] for i in range(40)]

    def module_and_loss():
        module = torch.nn.Linear(1, 1)
        return module, lambda batch: ((module(torch.tensor([[x] for g in batch for x in g])) - 1.0) ** 2).mean()

    first, loss = module_and_loss()
    run = train(first, loss, groups, LoopConfig(max_steps=6, groups_per_step=4, threads=1), tmp_path, progress=False)
    assert run["steps"] == 6 and (tmp_path / "checkpoint.pt").exists()
    again, loss = module_and_loss()
    run = train(again, loss, groups, LoopConfig(max_steps=10, groups_per_step=4, threads=1), tmp_path, progress=False)
    assert run["steps"] == 10  # four more, not ten
    stopped = train(*module_and_loss(), groups, LoopConfig(max_steps=5, max_minutes=0.0, threads=1), tmp_path / "b",
                    progress=False)
    assert stopped["stopped"] == "max_minutes" and stopped["steps"] == 0


def test_late_interaction_serving_matches_training(tmp_path):
    """The numpy scorer served without torch gives the trained module's logits."""
    torch = pytest.importorskip("torch")
    from assistant.answer.learned import LateInteractionModel
    from training.late_interaction import DIMENSION, build_module

    module = build_module()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    module.weights().save(tmp_path / "late.npz")
    served = LateInteractionModel(tmp_path / "late.npz")
    rng = np.random.default_rng(0)

    def unit_rows(n):
        rows = rng.standard_normal((n, DIMENSION)).astype(np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    q, rarity = unit_rows(4), rng.uniform(0, 5, 4).astype(np.float32)
    passages = [unit_rows(9), unit_rows(0), unit_rows(3)]
    got = served.scores(q, rarity, [served.project(p) for p in passages])
    with torch.no_grad():
        for passage, value in zip(passages, got):
            if len(passage):
                expected = float(module(torch.from_numpy(q), torch.from_numpy(rarity), torch.from_numpy(passage)))
                assert value == pytest.approx(expected, abs=1e-4)
    assert got[1] == pytest.approx(served.bias)  # a passage with no words matches nothing
