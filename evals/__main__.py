"""`python -m evals [--corpus NAME ...] [--summary] [--report PATH]`: score the assistant per corpus.

Each corpus of evals/corpora.toml (the seeds with their cases, the shared dev set, the held-out
public pages) is indexed on its own under DATA_DIR/evals (incrementally) and asked every case.
Exit code 1 when a metric is past its corpus's threshold in evals/data/thresholds.toml.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from assistant.errors import AssistantError
from assistant.settings import Settings

from .corpora import load_corpora, open_assistant
from .runner import check_thresholds, flatten, load_cases, load_promo_lines, load_thresholds, run_suite


def format_summary(report: dict, problems: list[str]) -> str:
    r, a, s, l = report["retrieval"], report["answers"], report["status"], report["latency"]
    lines = [
        f"cases: {report['cases']}",
        "retrieval: " + "  ".join(f"{k} {v:.3f}" for k, v in r.items()),
        f"answers: evidence first {a['evidence_found']:.3f}  evidence shown {a['evidence_shown']:.3f}  "
        f"unanswerable answered {a['unanswerable_answered']:.3f}  citation precision {a['citation_precision']:.3f}  "
        f"citation recall {a['citation_recall']:.3f}  caveat {a['caveat_rate']:.3f}",
        f"safety: promo citations {a['promo_citations']}  forbidden replies {a['forbidden_replies']}  "
        f"safety message where no emergency {a['safety_false_alarms']:.3f}",
        f"status accuracy: {s['accuracy']:.3f}  " + "  ".join(f"{k} {v:.2f}" for k, v in s["by_kind"].items()),
        f"latency: median {l['median_ms']:.1f} ms  p95 {l['p95_ms']:.1f} ms",
        "answered by: " + "  ".join(f"{k} {v}" for k, v in report.get("answerers", {}).items()),
        f"failed cases: {len(report['failures'])}",
    ]
    lines += [f"THRESHOLD {p}" for p in problems[:10]] or ["thresholds: all met"]
    return "\n".join(lines)


def format_table(report: dict, problems: list[str]) -> str:
    lines = [format_summary(report, problems), "", "status confusion (expected -> got):"]
    statuses = sorted({got for row in report["status"]["confusion"].values() for got in row})
    lines.append(f"{'expected':28}" + "".join(f"{s:>14}" for s in statuses))
    for expected, row in sorted(report["status"]["confusion"].items()):
        lines.append(f"{expected:28}" + "".join(f"{row.get(s, 0):>14}" for s in statuses))
    if report["failures"]:
        lines += ["", "failed cases:"] + [f"  {f['id']}: {f['problem']}" for f in report["failures"]]
    lines += ["", "all metrics:"] + [f"  {k:32} {v:.3f}" for k, v in flatten(report).items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    parser.add_argument("--corpus", nargs="*", help="corpora to score (default: every one in evals/corpora.toml)")
    parser.add_argument("--summary", action="store_true", help="headline numbers only")
    parser.add_argument("--report", type=Path, help="where to write the JSON report (default DATA_DIR/eval-report.json)")
    parser.add_argument("--answerer", choices=("extractive", "llm"), default="extractive",
                        help="llm: compose with the model configured by LLM_PROVIDER/LLM_BASE_URL/LLM_MODEL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        settings = Settings.from_env()
        if args.answerer == "llm" and not settings.llm_provider:
            raise AssistantError("--answerer llm needs a model: set LLM_PROVIDER (openai or ollama), "
                                 "LLM_BASE_URL and LLM_MODEL")
        if args.answerer == "extractive":
            settings = replace(settings, llm_provider="")
        corpora = load_corpora(args.corpus)
        reports, problems = {}, {}
        for corpus in corpora:
            if not corpus.available:
                print(f"{corpus.name}: skipped, {corpus.corpus_dir} or {corpus.cases} is missing", file=sys.stderr)
                continue
            assistant = open_assistant(settings, corpus, settings.data_dir / "evals")
            reports[corpus.name] = run_suite(assistant, load_cases(corpus.cases), load_promo_lines(corpus.forbid))
            problems[corpus.name] = check_thresholds(reports[corpus.name], load_thresholds(corpus.name))
    except (AssistantError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = args.report or settings.data_dir / "eval-report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({name: report | {"threshold_problems": problems[name]} for name, report in reports.items()},
                               indent=2, ensure_ascii=False))
    print(f"answerer: {args.answerer}")
    for name, report in reports.items():
        print(f"\n== {name}")
        print(format_summary(report, problems[name]) if args.summary else format_table(report, problems[name]))
    if not args.summary:
        print(f"\nJSON report: {path}")
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
