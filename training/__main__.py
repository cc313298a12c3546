"""`python -m training COMMAND`: learn the relevance model from the open QA sets.

    data      build the (question, passage, label) pairs and print what they hold
    train     train one learner: cross-encoder, bi-encoder or late-interaction
    evaluate  score trained learners on the calibration candidates and the QA validation split
    install   copy a trained late-interaction model to models/relevance (the served one)

Every run is seeded and bounded (--max-minutes), shows a progress bar and saves checkpoints it
resumes from when started again with the same --out. Nothing here runs when serving or testing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .data import DEFAULT_QA_DATA, TRAIN_SOURCES, VALIDATION_SOURCES, MissingDataError

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "data" / "training"
LEARNERS = ("cross-encoder", "bi-encoder", "late-interaction")


def _offline() -> None:
    # The base model ships in a package; nothing is fetched from a hub, in training either.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # "UNEXPECTED pooler weights" on every load is noise
    transformers_logging.disable_progress_bar()


def _base_model() -> str:
    from assistant.settings import Settings

    return Settings.from_env().model_path


def cmd_data(args) -> int:
    from . import data

    train = data.build(args.qa_data, TRAIN_SOURCES, seed=args.seed, limit_per_source=args.limit)
    valid = data.build(args.qa_data, VALIDATION_SOURCES, seed=args.seed)
    n_train = data.write_jsonl(train, args.out / "train.jsonl")
    n_valid = data.write_jsonl(valid, args.out / "validation.jsonl")
    print(json.dumps({"train": data.summary(train), "validation": data.summary(valid)}, indent=2))
    print(f"wrote {n_train} training and {n_valid} validation pairs to {args.out}")
    return 0


def _training_groups(args):
    from . import data

    path = args.out.parent / "train.jsonl" if args.data is None else args.data
    if not path.exists():
        data.write_jsonl(data.build(args.qa_data, TRAIN_SOURCES, seed=args.seed, limit_per_source=args.limit), path)
    return list(data.grouped(data.read_jsonl(path)).values())


def cmd_train(args) -> int:
    from .loop import LoopConfig

    _offline()
    groups = _training_groups(args)
    config = LoopConfig(max_steps=args.max_steps, max_minutes=args.max_minutes, groups_per_step=args.groups,
                        learning_rate=args.lr, seed=args.seed, threads=args.threads)
    if args.learner == "cross-encoder":
        from . import cross_encoder as learner
    elif args.learner == "bi-encoder":
        from . import bi_encoder as learner
    else:
        from . import late_interaction as learner
    options = {}
    if args.layers:
        options["layers"] = args.layers
    if args.questions:
        if args.learner != "late-interaction":
            raise SystemExit("error: --questions is for the late-interaction learner; the others train on every question")
        options["max_groups"] = args.questions
    run = learner.train(_base_model(), groups, config, args.out, **options)
    print(json.dumps(run, indent=2))
    return 0


def _scorer(learner: str, folder: Path, embedder):
    if learner == "cross-encoder":
        from . import cross_encoder

        return cross_encoder.load_scorer(folder / "model")
    if learner == "bi-encoder":
        from . import bi_encoder

        return bi_encoder.scorer(str(folder / "model"))
    from . import late_interaction

    return late_interaction.scorer(folder / "model" / "late.npz", embedder)


def cmd_evaluate(args) -> int:
    import numpy as np

    from assistant.embeddings import get_embedder
    from assistant.settings import Settings

    from . import data
    from .evaluate import PerText, combined, evaluate, load_observations, score_judged, table

    _offline()
    if not args.observations.exists():
        print(f"error: {args.observations} not found: run `python -m evals.calibrate --dump {args.observations}` "
              "first (it gathers every evaluation corpus's candidates)", file=sys.stderr)
        return 2
    judged = load_observations(args.observations)
    valid_path = WORK / "validation.jsonl"
    valid = data.read_jsonl(valid_path) if valid_path.exists() else data.build(args.qa_data, VALIDATION_SOURCES)
    embedder = get_embedder(Settings.from_env())

    vectors = PerText(lambda texts: list(embedder.embed_batch(texts)))

    def cosine(question, passages):
        return (np.stack(vectors(list(passages))) @ vectors([question])[0]).tolist()

    rows = {"four signals (calibrated as evals.calibrate does)": combined(judged, [None] * len(judged), args.fit_on)}
    results = {"cosine (shipped embedder)": cosine}
    for spec in args.learners:
        name, _, folder = spec.partition("=")
        results[name] = _scorer(name.split(":")[0], Path(folder) if folder else WORK / name, embedder)
    extra = {}
    for name, score in results.items():
        print(f"scoring: {name}", file=sys.stderr)
        rows[name] = evaluate(score, judged, valid)
        learned = [score_judged(j, score) for j in judged]
        extra[f"{name} + four signals"] = combined(judged, learned, args.fit_on)
    rows |= extra
    print(table(rows))
    out = args.report or WORK / "evaluation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"\nJSON: {out}")
    return 0


def cmd_install(args) -> int:
    import hashlib
    import shutil

    from assistant.answer.learned import LateInteractionModel
    from assistant.settings import Settings

    source = args.trained / "model" / "late.npz"
    if not source.exists():
        print(f"error: {source} not found: train it first with `python -m training train late-interaction "
              f"--out {args.trained}`", file=sys.stderr)
        return 2
    model = LateInteractionModel(source)  # readable as serving reads it, or it is not installed
    if not model.embedding_model:
        print(f"error: {source} does not name the embedding model it was trained on: train it again",
              file=sys.stderr)
        return 2
    target = Settings.from_env().relevance_model
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    print(f"installed {target} (SHA-256 {digest}): put the hash and the run's figures in "
          f"{target.parent / 'MODEL_CARD.md'}, then run `python -m evals.calibrate --features cosine alignment "
          "worst lexical learned --write` twice")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("data", help="build the pairs")
    p.add_argument("--out", type=Path, default=WORK)
    for q in (p,):
        q.add_argument("--qa-data", type=Path, default=DEFAULT_QA_DATA, help="the shared QA sets (default: %(default)s)")
        q.add_argument("--seed", type=int, default=13)
        q.add_argument("--limit", type=int, default=0, help="at most this many questions a source (0: all)")
    t = sub.add_parser("train", help="train one learner")
    t.add_argument("learner", choices=LEARNERS)
    t.add_argument("--out", type=Path, help="checkpoints and the trained model (default: data/training/LEARNER)")
    t.add_argument("--data", type=Path, help="training pairs (default: built into the folder above --out)")
    t.add_argument("--qa-data", type=Path, default=DEFAULT_QA_DATA)
    t.add_argument("--seed", type=int, default=13)
    t.add_argument("--limit", type=int, default=0)
    t.add_argument("--max-steps", type=int, default=3000)
    t.add_argument("--max-minutes", type=float, default=60.0)
    t.add_argument("--groups", type=int, default=8, help="questions a step (each with its passages)")
    t.add_argument("--lr", type=float, default=3e-5)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--layers", type=int, default=0, help="cross-encoder: encoder layers kept (default 6)")
    t.add_argument("--questions", type=int, default=0,
                   help="late interaction: questions sampled for training (default 24,000; the shipped run 12,000)")
    e = sub.add_parser("evaluate", help="compare learners on the calibration candidates and the validation split")
    e.add_argument("learners", nargs="*", help="LEARNER[:label][=FOLDER] (default folder: data/training/LEARNER)")
    e.add_argument("--observations", type=Path, default=WORK / "observations.jsonl",
                   help="the candidates `python -m evals.calibrate --dump` wrote")
    e.add_argument("--fit-on", nargs="*", default=["seeds", "devset"], help="corpora the combined fit may use")
    e.add_argument("--qa-data", type=Path, default=DEFAULT_QA_DATA)
    e.add_argument("--report", type=Path)
    i = sub.add_parser("install", help="copy a trained late-interaction model to where serving reads it")
    i.add_argument("trained", type=Path, nargs="?", default=WORK / "late-interaction", help="its training folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.command == "train" and args.out is None:
        args.out = WORK / args.learner
    try:
        return {"data": cmd_data, "train": cmd_train, "evaluate": cmd_evaluate, "install": cmd_install}[args.command](args)
    except MissingDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
