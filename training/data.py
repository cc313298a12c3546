"""(question, passage, label) data for the relevance model, from the open QA sets in ../shared/qa-data.

Every passage is shaped like one of our evidence units as the relevance model sees it at
serving time (``unit_embedding_text``): a heading, then one to three sentences, a list item
quoted with its lead-in where the source has one. Each question comes with its answer and with
hard negatives, passages near it that do not answer it:

- MedQuAD (NIH pages): the answer to another question type about the same disease or drug,
  under the same kind of heading ("same topic, another ask": what a clinic's FAQ is made of);
- SQuAD 2.0: the sentences of the paragraph around the answer, and for the questions written
  to be unanswerable from their paragraph, the paragraph's most similar sentences ("near the
  topic, not answered": the refusals we must make);
- SelQA: the sentences of the section that are not the answer;
- plus, for every question, one passage from elsewhere in its set (an easy negative).

Training questions are also rewritten the way patients type (``patient.py``). K-QA's patient
questions and the CDC/FDA FAQ pairs are kept apart as a validation split that no training run
sees: they are real people's wording, closest to a clinic's patients.
"""

from __future__ import annotations

import html
import json
import random
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

from assistant.ingest.cleaning import CONTEXT_JOINER, SECTION_SEPARATOR, unit_embedding_text
from assistant.text import content_words, split_sentences, stem

from .patient import as_patient_types

DEFAULT_QA_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "qa-data"
TRAIN_SOURCES = ("medquad", "squad2", "selqa")
VALIDATION_SOURCES = ("kqa", "cdc-fda")
# A passage holds at most this many sentences, as our units do (a sentence, two linked ones, or
# a list item with its lead-in).
MAX_SENTENCES = 3
MIN_WORDS = 4  # a shorter "sentence" is a heading or a fragment, not an answer


@dataclass(frozen=True)
class Example:
    question: str
    passage: str
    label: int  # 1: the passage answers the question; 0: it does not
    group: str  # one id per question: its answer and its negatives share it
    source: str
    kind: str = ""  # positive | hard | unanswerable | random: why the pair is here

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict) -> "Example":
        return cls(**row)


class MissingDataError(FileNotFoundError):
    pass


def _require(path: Path) -> Path:
    if not path.exists():
        raise MissingDataError(f"{path} not found: point --qa-data at the folder of the shared QA sets "
                               "(../shared/qa-data, see its README)")
    return path


def clean(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def clean_question(text: str) -> str:
    """A question as a person would write it: MedQuAD's templates say "What is (are) X ?"."""
    return re.sub(r"\bis \(are\)", "is", clean(text))


def sentences(text: str) -> list[str]:
    """The text's sentences of at least MIN_WORDS words, split as ingest splits units."""
    return [s for s in split_sentences(clean(text)) if len(s.split()) >= MIN_WORDS]


def passage(heading: str, parts: list[str], lead_in: str = "") -> str:
    """A unit as the relevance model reads it: ``heading: [lead-in … ]sentences``."""
    quote = " ".join(parts)
    if lead_in:
        quote = f"{lead_in}{CONTEXT_JOINER}{quote}"
    return unit_embedding_text(heading, quote)


def window(items: list[str], start: int, rng: random.Random) -> list[str]:
    """One to MAX_SENTENCES items from ``start``, most often one or two, as units are."""
    size = rng.choice((1, 1, 2, 2, 3))
    return items[start:start + size]


def overlap(question: str, text: str) -> float:
    """The share of the question's content stems the text uses: how alike they look."""
    q = {stem(w) for w in content_words(question)}
    if not q:
        return 0.0
    return len(q & {stem(w) for w in content_words(text)}) / len(q)


# ----- MedQuAD -------------------------------------------------------------------------------

# A bulleted answer ("Key Points - A is ... - B is ...") is a lead-in and its items.
_BULLET = re.compile(r"\s+-\s+(?=[A-Z])")


def _answer_units(answer: str, rng: random.Random) -> list[tuple[str, list[str]]]:
    """(lead-in, sentences) choices from the start of an answer: its first sentences, or a
    lead-in line ending in ':' with its first items."""
    lines = [clean(l) for l in answer.splitlines() if clean(l)]
    for i, line in enumerate(lines[:-1]):
        if line.endswith(":") and len(line.split()) >= 3:
            items = [s for s in sentences(" ".join(lines[i + 1:i + 4])) if s]
            if items:
                return [(line, window(items, 0, rng))]
    text = " ".join(lines)
    first = sentences(_BULLET.sub(". ", text)) if text.startswith("Key Points") else sentences(text)
    first = [s for s in first if not s.lower().startswith("key points")]
    return [("", window(first, 0, rng))] if first else []


def _medquad_heading(focus: str, question: str, qtype: str, style: int) -> str:
    """Headings as clinic pages use them: the topic, the FAQ question, or a topic path."""
    if style == 0:
        return focus
    if style == 1:
        return question
    return f"{focus}{SECTION_SEPARATOR}{qtype.capitalize()}"


def medquad(root: Path, rng: random.Random) -> Iterator[Example]:
    folders = sorted(p for p in _require(root / "medquad").iterdir() if p.is_dir())
    for folder in folders:
        for path in sorted(folder.glob("*.xml")):
            try:
                doc = ET.parse(path).getroot()
            except ET.ParseError:
                continue
            focus = clean(doc.findtext("Focus") or "")
            pairs = []
            for pair in doc.iter("QAPair"):
                q, a = pair.find("Question"), pair.find("Answer")
                if q is None or a is None or not (a.text or "").strip():
                    continue
                pairs.append((clean_question(q.text or ""), q.get("qtype", ""), a.text))
            # One question a type: MedQuAD repeats a type with other wordings of the same ask.
            by_type = {}
            for q, qtype, a in pairs:
                by_type.setdefault(qtype, (q, qtype, a))
            pairs = list(by_type.values())
            if len(pairs) < 2:
                continue  # no same-topic negative: the easy pairs add little
            for i, (q, qtype, a) in enumerate(pairs):
                style = rng.randrange(3)
                own = _answer_units(a, rng)
                if not own:
                    continue
                group = f"medquad:{path.parent.name}/{path.stem}#{i}"
                lead, parts = own[0]
                yield Example(q, passage(_medquad_heading(focus, q, qtype, style), parts, lead), 1, group, "medquad",
                              "positive")
                others = [p for p in pairs if p[1] != qtype]
                for oq, otype, oa in rng.sample(others, min(2, len(others))):
                    unit = _answer_units(oa, rng)
                    if unit:
                        lead, parts = unit[0]
                        yield Example(q, passage(_medquad_heading(focus, oq, otype, style), parts, lead), 0, group,
                                      "medquad", "hard")


# ----- SQuAD 2.0 -----------------------------------------------------------------------------

def _sentence_spans(text: str) -> list[tuple[int, int, str]]:
    spans, at = [], 0
    for s in split_sentences(text):
        start = text.find(s, at)
        if start < 0:
            continue
        spans.append((start, start + len(s), s))
        at = start + len(s)
    return spans


def squad2(root: Path, rng: random.Random) -> Iterator[Example]:
    data = json.loads(_require(root / "squad2-dev" / "squad2_dev.json").read_text(encoding="utf-8"))
    for article in data["data"]:
        title = article["title"].replace("_", " ")
        for p_index, para in enumerate(article["paragraphs"]):
            spans = [s for s in _sentence_spans(para["context"]) if len(s[2].split()) >= MIN_WORDS]
            if len(spans) < 2:
                continue
            texts = [s[2] for s in spans]
            for qa in para["qas"]:
                q = clean(qa["question"])
                group = f"squad2:{qa['id']}"
                if qa.get("is_impossible"):
                    # Written to look answerable from this paragraph: its closest sentences are
                    # the hardest "near the topic, not answered" negatives there are.
                    ranked = sorted(range(len(texts)), key=lambda i: -overlap(q, texts[i]))
                    for i in ranked[:2]:
                        yield Example(q, passage(title, window(texts, i, rng)), 0, group, "squad2", "unanswerable")
                    continue
                starts = [a["answer_start"] for a in qa.get("answers", []) if a.get("answer_start", -1) >= 0]
                if not starts:
                    continue
                hit = next((i for i, (s, e, _) in enumerate(spans) if s <= starts[0] < e), None)
                if hit is None:
                    continue
                # The answer's sentence, possibly with the one after it (a unit may be two).
                size = rng.choice((1, 1, 2))
                yield Example(q, passage(title, texts[hit:hit + size]), 1, group, "squad2", "positive")
                others = sorted((i for i in range(len(texts)) if abs(i - hit) >= size),
                                key=lambda i: -overlap(q, texts[i]))
                for i in others[:2]:
                    yield Example(q, passage(title, [texts[i]]), 0, group, "squad2", "hard")


# ----- SelQA ---------------------------------------------------------------------------------

def selqa(root: Path, rng: random.Random) -> Iterator[Example]:
    for name in ("selqa-ass-dev.json", "selqa-ass-test.json"):
        rows = json.loads(_require(root / "selqa-ass" / "ass" / name).read_text(encoding="utf-8"))
        for n, row in enumerate(rows):
            answers = set(row.get("answers", []))
            candidates = [clean(c) for c in row["candidates"]]
            if not answers or len(candidates) < 2:
                continue
            q = clean(row["question"])
            heading = f"{row['article']}{SECTION_SEPARATOR}{row['section']}"
            group = f"selqa:{name}#{n}"
            for i in sorted(answers)[:1]:
                yield Example(q, passage(heading, [candidates[i]]), 1, group, "selqa", "positive")
            negatives = sorted((i for i in range(len(candidates)) if i not in answers and candidates[i]),
                               key=lambda i: -overlap(q, candidates[i]))
            for i in negatives[:2]:
                yield Example(q, passage(heading, [candidates[i]]), 0, group, "selqa", "hard")


# ----- validation: K-QA and the CDC/FDA FAQs -------------------------------------------------

def kqa(root: Path, rng: random.Random) -> Iterator[Example]:
    """Real patient questions with a physician's answer: positive is the answer's opening,
    negatives are other answers' openings (the set is small and on many topics)."""
    rows = [json.loads(l) for l in _require(root / "k-qa" / "dataset" / "questions_w_answers.jsonl")
            .read_text(encoding="utf-8").splitlines() if l.strip()]
    openings = [sentences(r.get("Free_form_answer", ""))[:2] for r in rows]
    for n, (row, opening) in enumerate(zip(rows, openings)):
        if not opening:
            continue
        q, group = clean(row["Question"]), f"kqa:{n}"
        heading = "Patient questions"
        yield Example(q, passage(heading, opening), 1, group, "kqa", "positive")
        others = [o for m, o in enumerate(openings) if m != n and o]
        for o in sorted(others, key=lambda o: -overlap(q, " ".join(o)))[:3]:
            yield Example(q, passage(heading, o), 0, group, "kqa", "hard")


def cdc_fda(root: Path, rng: random.Random) -> Iterator[Example]:
    """FAQ pages of the CDC and the FDA: every answer on the same topic page is a candidate,
    the question's own is the positive."""
    by_topic: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    seen = set()
    for path in sorted(_require(root / "covid-faq-usgov-jhu").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            q, a = clean(row.get("questionText", "")), sentences(row.get("answerText", ""))
            if not q or not a or q.lower() in seen:
                continue
            seen.add(q.lower())
            by_topic[clean(row.get("topic", "")) or path.stem].append((q, a[:2]))
    for topic, pairs in sorted(by_topic.items()):
        if len(pairs) < 3:
            continue
        for n, (q, answer) in enumerate(pairs):
            group = f"cdc-fda:{topic}#{n}"
            yield Example(q, passage(topic, answer), 1, group, "cdc-fda", "positive")
            for m, (oq, other) in enumerate(pairs):
                if m != n:
                    yield Example(q, passage(topic, other), 0, group, "cdc-fda", "hard")


SOURCES = {"medquad": medquad, "squad2": squad2, "selqa": selqa, "kqa": kqa, "cdc-fda": cdc_fda}


def with_random_negatives(examples: list[Example], rng: random.Random) -> list[Example]:
    """Each question also gets one passage of another question of its set: an easy negative,
    so the model's scale spans unrelated passages too."""
    positives = [e for e in examples if e.label == 1]
    out = list(examples)
    groups = {}
    for e in examples:
        groups.setdefault(e.group, e)
    for group, first in groups.items():
        other = rng.choice(positives)
        if other.group != group and other.source == first.source:
            out.append(Example(first.question, other.passage, 0, group, first.source, "random"))
    return out


def patient_questions(examples: list[Example], rng: random.Random, share: float = 0.6) -> list[Example]:
    """A share of the questions rewritten as patients type them, the same rewrite for every pair
    of a question (its answer and its negatives are judged against one wording)."""
    rewritten = {}
    for e in examples:
        if e.group not in rewritten:
            rewritten[e.group] = as_patient_types(e.question, rng) if rng.random() < share else e.question
    return [Example(rewritten[e.group], e.passage, e.label, e.group, e.source, e.kind) for e in examples]


def build(root: Path = DEFAULT_QA_DATA, sources: Iterable[str] = TRAIN_SOURCES, seed: int = 13,
          limit_per_source: int = 0, patient_share: float = 0.6) -> list[Example]:
    """Examples of the chosen sources, whole questions at a time (at most ``limit_per_source``
    questions a source when set), with random negatives and patient wording."""
    out: list[Example] = []
    for name in sources:
        rng = random.Random(f"{seed}:{name}")
        examples = list(SOURCES[name](Path(root), rng))
        if limit_per_source:
            groups = sorted({e.group for e in examples})
            keep = set(rng.sample(groups, min(limit_per_source, len(groups))))
            examples = [e for e in examples if e.group in keep]
        examples = with_random_negatives(examples, rng) if name in TRAIN_SOURCES else examples
        if name in TRAIN_SOURCES and patient_share:
            examples = patient_questions(examples, rng, patient_share)
        out += examples
    return out


def grouped(examples: Iterable[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = {}
    for e in examples:
        groups.setdefault(e.group, []).append(e)
    return groups


def write_jsonl(examples: Iterable[Example], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(e.to_json(), ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def read_jsonl(path: Path) -> list[Example]:
    return [Example.from_json(json.loads(l)) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def summary(examples: list[Example]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in examples:
        row = out.setdefault(e.source, {"questions": 0, "pairs": 0})
        row["pairs"] += 1
        row[e.kind] = row.get(e.kind, 0) + 1
    for source, groups in _groups_by_source(examples).items():
        out[source]["questions"] = groups
    return out


def _groups_by_source(examples: list[Example]) -> dict[str, int]:
    seen: dict[str, set[str]] = defaultdict(set)
    for e in examples:
        seen[e.source].add(e.group)
    return {k: len(v) for k, v in seen.items()}
