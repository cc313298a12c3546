"""Run the evaluation cases through the assistant and score them.

Retrieval is scored apart from answers: retrieval against passages that contain a case's
evidence, answers against the evidence, their citations, their status and the caveat.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from assistant.answer.answering import ANSWERED, CAVEAT, CLOSEST, OUT_OF_SCOPE, STATUSES, URGENT
from assistant.answer.chain import Turn

from . import metrics

DATA = Path(__file__).resolve().parent / "data"
CASES = DATA / "cases.jsonl"
PROMO = DATA / "promo_lines.txt"
THRESHOLDS = DATA / "thresholds.toml"
KINDS = ("in_scope", "out_of_scope", "urgent", "crisis", "injection", "invalid", "markup", "follow_up")


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    question: str
    history: tuple = ()
    statuses: tuple[str, ...] = ()  # any of these is correct
    evidence: tuple[str, ...] = ()  # any of these must be retrieved and appear in the answer
    section: str = ""  # or: a passage of this section must be retrieved
    forbid: tuple[str, ...] = ()  # text that must never appear in the reply


class DataError(ValueError):
    pass


def load_cases(path: Path = CASES) -> list[Case]:
    cases, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            expect = row["expect"]
            status = expect["status"]
            statuses = list(status if isinstance(status, list) else [status])
            statuses += [s for s in expect.get("also_ok", ()) if s not in statuses]
            case = Case(
                id=str(row["id"]), kind=str(row["kind"]), question=row["question"],
                history=tuple(row.get("history", ())),
                statuses=tuple(statuses),
                evidence=tuple(expect.get("evidence", ())), section=str(expect.get("section", "")),
                forbid=tuple(expect.get("forbid", ())),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{number}: not a case ({exc}); see docs/evaluation.md") from None
        if case.id in seen:
            raise DataError(f"{path}:{number}: duplicate case id {case.id!r}")
        if case.kind not in KINDS or not set(case.statuses) <= set(STATUSES):
            raise DataError(f"{path}:{number}: unknown kind {case.kind!r} or status {case.statuses!r}")
        seen.add(case.id)
        cases.append(case)
    return cases


def load_promo_lines(path: Path | None = PROMO) -> list[str]:
    if path is None:
        return []
    return [l.strip() for l in path.read_text(encoding="utf-8").splitlines() if l.strip() and not l.startswith("#")]


def relevant_chunks(case: Case, chunk_meta: dict[str, dict]) -> dict[str, int]:
    """Chunks that hold the case's evidence (or lie in its section): the case's qrels."""
    rel = {}
    for cid, meta in chunk_meta.items():
        if (case.evidence and metrics.contains_any(meta["text"], case.evidence)) or \
                (case.section and meta["section"] == case.section):
            rel[cid] = 1
    return rel


def run_suite(assistant, cases: list[Case], promo_lines: list[str]) -> dict:
    """Ask every case, score retrieval and answers; returns a JSON-ready report."""
    snapshot = assistant.reader.current()
    tally = _Tally(promo_lines)
    for case in cases:
        started = time.perf_counter()
        answer = assistant.ask(case.question, list(case.history))
        tally.latencies.append((time.perf_counter() - started) * 1000)
        ok = tally.status(case, answer)
        if case.evidence or case.section:
            # Retrieval is judged for the query the chain actually searches with.
            turn = assistant.steps.read(Turn(case.question, tuple(case.history)))
            docs = assistant.retriever.search(turn.query, 10)
            tally.qrels[case.id] = relevant_chunks(case, snapshot.meta)
            tally.results[case.id] = {d.metadata["chunk_id"]: 1.0 / d.metadata["rank"] for d in docs}
        tally.answer(case, answer, ok)
    return tally.report(len(cases))


@dataclass
class _Tally:
    """The suite's counts as the cases are asked, then its report."""

    promo_lines: list[str]
    qrels: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    status_pairs: list[tuple[str, str]] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    precisions: list[float] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)
    by_kind: dict[str, list[bool]] = field(default_factory=dict)
    by_kind_evidence: dict[str, list[bool]] = field(default_factory=dict)
    shown: list[bool] = field(default_factory=list)  # answerable: evidence in an answer or the closest passages
    unanswerable_answered: list[bool] = field(default_factory=list)  # out of scope: given a direct answer
    false_alarms: list[bool] = field(default_factory=list)  # not an emergency: given a safety or crisis message
    answerers: dict[str, int] = field(default_factory=dict)
    caveats: int = 0
    promo_citations: int = 0
    forbidden: int = 0

    def status(self, case: Case, answer) -> bool:
        # The closest passages say plainly that no direct answer was found: for a question the
        # documents do not answer, that is as right as the refusal.
        status = answer.status
        if URGENT in case.statuses:
            # An answer with the safety message first has flagged the emergency as well.
            status = URGENT if answer.safety_first else status
        else:
            self.false_alarms.append(answer.safety_first)
        ok = status in case.statuses or (status == CLOSEST and OUT_OF_SCOPE in case.statuses)
        # Crisis language is an urgent reply with the crisis message, not the skin safety message.
        if case.kind == "crisis" or (case.kind == "urgent" and status == URGENT):
            ok = ok and answer.crisis == (case.kind == "crisis")
        if case.statuses == (OUT_OF_SCOPE,):
            self.unanswerable_answered.append(status == ANSWERED)
        self.by_kind.setdefault(case.kind, []).append(ok)
        self.status_pairs.append(("|".join(case.statuses), status))
        if not ok:
            self.failures.append({"id": case.id, "problem": f"status {status}, expected {'/'.join(case.statuses)}"})
        self.caveats += answer.caveat == CAVEAT
        self.answerers[answer.answerer] = self.answerers.get(answer.answerer, 0) + 1
        return ok

    def answer(self, case: Case, answer, ok: bool) -> None:
        if answer.status == ANSWERED:
            p, r = metrics.citation_scores(answer.answer, {c.n: c.quote for c in answer.citations})
            self.precisions.append(p)
            self.recalls.append(r)
            self.promo_citations += sum(metrics.contains_any(c.quote, self.promo_lines) for c in answer.citations)
        if case.evidence and ANSWERED in case.statuses and len(case.statuses) == 1:
            # The evidence counts only in the first cited passage: the one the answer leads with.
            found = (answer.status == ANSWERED and bool(answer.citations)
                     and metrics.contains_any(answer.citations[0].quote, case.evidence))
            self.by_kind_evidence.setdefault(case.kind, []).append(found)
            # Shown at all: first in an answer, or among the closest passages (not an answer).
            self.shown.append(found or (answer.status == CLOSEST
                                        and any(metrics.contains_any(c.quote, case.evidence) for c in answer.citations)))
            if not found and ok:
                self.failures.append({"id": case.id, "problem": "first citation lacks the expected evidence"})
        if case.forbid and metrics.contains_any(answer.answer, case.forbid):
            self.forbidden += 1
            self.failures.append({"id": case.id, "problem": "reply contains forbidden text"})

    def report(self, cases: int) -> dict:
        answered = len(self.precisions)
        evidence = [found for v in self.by_kind_evidence.values() for found in v]
        return {
            "cases": cases,
            "retrieval": metrics.retrieval_metrics(self.qrels, self.results),
            "answers": {
                "evidence_found": sum(evidence) / len(evidence) if evidence else 0.0,
                # Answerable questions (in scope, follow-ups) answered with the evidence first: the
                # product's headline figure, per kind.
                **{f"evidence_first.{kind}": sum(v) / len(v) for kind, v in sorted(self.by_kind_evidence.items())},
                "evidence_shown": sum(self.shown) / len(self.shown) if self.shown else 0.0,
                "unanswerable_answered": (sum(self.unanswerable_answered) / len(self.unanswerable_answered)
                                          if self.unanswerable_answered else 0.0),
                # Shown the safety or crisis message, alone or before an answer, though no emergency.
                "safety_false_alarms": sum(self.false_alarms) / len(self.false_alarms) if self.false_alarms else 0.0,
                "citation_precision": sum(self.precisions) / answered if answered else 0.0,
                "citation_recall": sum(self.recalls) / answered if answered else 0.0,
                "caveat_rate": self.caveats / cases if cases else 0.0,
                "promo_citations": self.promo_citations,
                "forbidden_replies": self.forbidden,
            },
            "status": {
                "accuracy": sum(sum(v) for v in self.by_kind.values()) / cases if cases else 0.0,
                "by_kind": {kind: sum(v) / len(v) for kind, v in sorted(self.by_kind.items())},
                "confusion": metrics.confusion(self.status_pairs),
            },
            "latency": metrics.latency_summary(self.latencies),
            "answerers": dict(sorted(self.answerers.items())),
            "failures": self.failures,
        }


def flatten(report: dict) -> dict[str, float]:
    """Numeric leaves as dotted names ("retrieval.Hit@5"), as thresholds name them."""
    flat = {}
    for section in ("retrieval", "answers", "latency"):
        for key, value in report[section].items():
            flat[f"{section}.{key}"] = value
    flat["status.accuracy"] = report["status"]["accuracy"]
    for kind, value in report["status"]["by_kind"].items():
        flat[f"status.{kind}"] = value
    return flat


def load_thresholds(corpus: str, path: Path = THRESHOLDS) -> dict[str, dict[str, float]]:
    """The corpus's floors and limits (a table per corpus in thresholds.toml)."""
    data = tomllib.loads(path.read_text(encoding="utf-8")).get(corpus, {})
    return {"min": dict(data.get("min", {})), "max": dict(data.get("max", {}))}


def check_thresholds(report: dict, thresholds: dict[str, dict[str, float]]) -> list[str]:
    """One message per metric below its minimum or above its maximum (or missing)."""
    flat = flatten(report)
    problems = []
    for name, bound in thresholds["min"].items():
        if name not in flat:
            problems.append(f"{name}: no such metric in the report")
        elif flat[name] < bound:
            problems.append(f"{name} = {flat[name]:.3f} is below its threshold {bound}")
    for name, bound in thresholds["max"].items():
        if name not in flat:
            problems.append(f"{name}: no such metric in the report")
        elif flat[name] > bound:
            problems.append(f"{name} = {flat[name]:.3f} is above its limit {bound}")
    return problems
