"""Command line: `python -m assistant ask|lookup|report|purge|user ...` (a stable contract for other tools)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Iterable, TextIO

from .answer.answering import Answer
from .errors import AssistantError
from .settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assistant", description="Microneedling FAQ assistant.")
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer a question ('-' reads one question per line from stdin)")
    ask.add_argument("question", nargs="+", help="the question, or - to read questions from stdin")
    ask.add_argument("--json", action="store_true", help="one JSON object per answer, one per line")
    lookup = sub.add_parser("lookup", help="ranked passages for a query")
    lookup.add_argument("query", nargs="+")
    lookup.add_argument("--k", type=int, default=5, help="how many passages (default 5)")
    lookup.add_argument("--json", action="store_true")
    report = sub.add_parser("report", help="questions most often refused and answers most often voted down")
    report.add_argument("--limit", type=int, default=10)
    purge = sub.add_parser("purge", help="delete recorded questions, votes and callback requests older than the retention limit")
    purge.add_argument("--days", type=int, default=None,
                       help="keep this many days instead of FEEDBACK_RETENTION_DAYS (default 90)")
    user = sub.add_parser("user", help="console accounts: add, list, remove")
    users = user.add_subparsers(dest="user_command", required=True)
    add = users.add_parser("add", help="add an account (or set its password and role); asks for the password")
    add.add_argument("name")
    add.add_argument("--role", choices=["staff", "admin"], required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    users.add_parser("list", help="the accounts and their roles")
    remove = users.add_parser("remove", help="remove an account")
    remove.add_argument("name")
    return parser


def main(argv: list[str] | None = None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        settings = Settings.from_env()
        if args.command == "user":
            from .web.console.accounts import user_command

            return user_command(settings, args, stdin, stdout)
        if args.command in ("report", "purge"):
            return _feedback_command(args, settings, stdout)
        from .service import build_assistant

        assistant = build_assistant(settings)
        if args.command == "ask":
            questions = _questions(args.question, stdin)
            for question in questions:
                _print_answer(assistant.ask(question), args.json, stdout)
                stdout.flush()
        else:
            if args.k <= 0:
                raise AssistantError(f"--k {args.k} must be a positive number of passages")
            _print_passages(assistant.lookup(" ".join(args.query), args.k), args.json, stdout)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _feedback_command(args, settings: Settings, stdout: TextIO) -> int:
    import sqlite3

    if not settings.feedback_path.exists():
        raise AssistantError(f"no feedback yet at {settings.feedback_path}: it fills as people use the app.")
    store = settings.feedback_store()
    try:
        if args.command == "report":
            print(store.report(args.limit), file=stdout)
        else:
            if args.days is not None and args.days < 0:
                raise AssistantError(f"--days {args.days} must be 0 or more")
            gone = store.purge(args.days)
            days = store.retention_days if args.days is None else args.days
            print(f"deleted {gone} questions, votes and callback requests older than {days} days", file=stdout)
    except sqlite3.Error as exc:
        raise AssistantError(f"cannot read the feedback store {settings.feedback_path} ({exc}): check that the "
                             "data folder is readable and writable and the file is not damaged.") from None
    return 0


def _questions(words: list[str], stdin: TextIO) -> Iterable[str]:
    if words == ["-"]:
        return (line.rstrip("\n") for line in stdin if line.strip())
    return [" ".join(words)]


def _print_answer(answer: Answer, as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(answer.to_json(), ensure_ascii=False) + "\n")
        return
    if answer.alert is not None:
        out.write(f"{answer.alert.message}\n\n")
    out.write(f"{answer.answer}\n")
    for c in answer.citations:
        out.write(f"  [{c.n}] {c.title} — {c.section} ({c.source}): \"{c.quote}\"\n")
    out.write(f"Note: {answer.caveat}\n\n")


def _print_passages(docs, as_json: bool, out: TextIO) -> None:
    if as_json:
        for d in docs:
            m = d.metadata
            out.write(json.dumps({"rank": m["rank"], "title": m["title"], "section": m["section"],
                                  "source": m["source"], "score": m["score"], "text": d.page_content},
                                 ensure_ascii=False) + "\n")
        return
    for d in docs:
        m = d.metadata
        out.write(f"{m['rank']}. {m['title']} — {m['section']} (score {m['score']:.4f})\n   {d.page_content}\n")
