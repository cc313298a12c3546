"""Build or update the search index from corpus/: `python ingest.py [--rebuild] [--explain]`."""

from __future__ import annotations

import argparse
import logging
import sys

from assistant.errors import AssistantError
from assistant.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rebuild", action="store_true", help="re-embed everything instead of only what changed")
    parser.add_argument("--explain", action="store_true", help="list every line cleaning dropped, and why")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        from assistant.embeddings import get_embedder
        from assistant.index import ChromaIndex, open_client
        from assistant.ingest.ingestion import ensure_serving_model, run_ingest

        settings = Settings.from_env()
        index = ChromaIndex(open_client(settings), settings.collection)
        report = run_ingest(settings, get_embedder(settings), index, rebuild=args.rebuild, explain=args.explain)
        exported = ensure_serving_model(settings)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the index is as it was before this ingest.", file=sys.stderr)
        return 130
    if args.explain:
        for source, dropped in report.dropped:
            print(f"dropped {source}:{dropped.line}: {dropped.reason}: {dropped.text[:100]!r}")
        for source, label, passages in report.withheld:
            print(f"staff only {source}: {passages} passage(s) under {label[:100]!r}, which marks them as not to be used")
    print(report.summary())
    if exported:
        print(f"exported the serving model (ONNX Runtime, no torch when answering): {exported.name}")
    return 1 if report.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
