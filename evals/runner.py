"""Run the evaluation cases through the assistant and score them.

Retrieval is scored apart from answers: retrieval against passages that contain a case's
evidence, answers against the evidence, their citations, their status and the caveat.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from assistant.answer.answering import ANSWERED, CAVEAT, STATUSES

from . import metrics

DATA = Path(__file__).resolve().parent / "data"
CASES = DATA / "cases.jsonl"
PROMO = DATA / "promo_lines.txt"
THRESHOLDS = DATA / "thresholds.toml"
KINDS = ("in_scope", "out_of_scope", "urgent", "injection", "invalid", "markup", "follow_up")


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
            raise DataError(f"{path}:{number}: not a case ({exc}); see the README's Evaluation section") from None
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
    qrels, results = {}, {}
    latencies, status_pairs, failures = [], [], []
    evidence_hits = evidence_total = 0
    precisions, recalls = [], []
    caveats = promo_citations = forbidden = 0
    by_kind: dict[str, list[bool]] = {}
    by_kind_evidence: dict[str, list[bool]] = {}
    answerers: dict[str, int] = {}

    for case in cases:
        started = time.perf_counter()
        answer = assistant.ask(case.question, list(case.history))
        latencies.append((time.perf_counter() - started) * 1000)

        ok = answer.status in case.statuses
        by_kind.setdefault(case.kind, []).append(ok)
        status_pairs.append(("|".join(case.statuses), answer.status))
        if not ok:
            failures.append({"id": case.id, "problem": f"status {answer.status}, expected {'/'.join(case.statuses)}"})
        caveats += answer.caveat == CAVEAT
        answerers[answer.answerer] = answerers.get(answer.answerer, 0) + 1

        if case.evidence or case.section:
            # Retrieval is judged for the query the chain actually searches with.
            state = assistant.steps.contextualise({"question": case.question, "history": list(case.history)})
            docs = assistant.retriever.search(state["query"], 10)
            qrels[case.id] = relevant_chunks(case, snapshot.meta)
            results[case.id] = {d.metadata["chunk_id"]: 1.0 / d.metadata["rank"] for d in docs}

        if answer.status == ANSWERED:
            quotes = {c.n: c.quote for c in answer.citations}
            p, r = metrics.citation_scores(answer.answer, quotes)
            precisions.append(p)
            recalls.append(r)
            promo_citations += sum(metrics.contains_any(c.quote, promo_lines) for c in answer.citations)
        if case.evidence and ANSWERED in case.statuses and len(case.statuses) == 1:
            # The evidence counts only in the first cited passage: the one the answer leads with.
            evidence_total += 1
            found = (answer.status == ANSWERED and bool(answer.citations)
                     and metrics.contains_any(answer.citations[0].quote, case.evidence))
            evidence_hits += found
            by_kind_evidence.setdefault(case.kind, []).append(found)
            if not found and ok:
                failures.append({"id": case.id, "problem": "first citation lacks the expected evidence"})
        if case.forbid and metrics.contains_any(answer.answer, case.forbid):
            forbidden += 1
            failures.append({"id": case.id, "problem": "reply contains forbidden text"})

    answered = len(precisions)
    return {
        "cases": len(cases),
        "retrieval": metrics.retrieval_metrics(qrels, results),
        "answers": {
            "evidence_found": evidence_hits / evidence_total if evidence_total else 0.0,
            # Answerable questions (in scope, follow-ups) answered with the evidence first: the
            # product's headline figure, per kind.
            **{f"evidence_first.{kind}": sum(v) / len(v) for kind, v in sorted(by_kind_evidence.items())},
            "citation_precision": sum(precisions) / answered if answered else 0.0,
            "citation_recall": sum(recalls) / answered if answered else 0.0,
            "caveat_rate": caveats / len(cases) if cases else 0.0,
            "promo_citations": promo_citations,
            "forbidden_replies": forbidden,
        },
        "status": {
            "accuracy": sum(sum(v) for v in by_kind.values()) / len(cases) if cases else 0.0,
            "by_kind": {kind: sum(v) / len(v) for kind, v in sorted(by_kind.items())},
            "confusion": metrics.confusion(status_pairs),
        },
        "latency": metrics.latency_summary(latencies),
        "answerers": dict(sorted(answerers.items())),
        "failures": failures,
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
