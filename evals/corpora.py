"""The evaluation corpora (evals/corpora.toml) and an assistant built on each one's own index."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from assistant.errors import AssistantError
from assistant.settings import PROJECT_ROOT, Settings

CORPORA_FILE = Path(__file__).resolve().parent / "corpora.toml"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Corpus:
    name: str
    corpus_dir: Path
    cases: Path
    forbid: Path | None  # lines no answer may cite
    held_out: bool  # never used to fit anything

    @property
    def available(self) -> bool:
        return self.corpus_dir.is_dir() and self.cases.is_file()


def load_corpora(names: list[str] | None = None, path: Path = CORPORA_FILE) -> list[Corpus]:
    """The configured corpora, in file order; ``names`` picks some (unknown names are an error)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    corpora = [
        Corpus(name, (PROJECT_ROOT / row["corpus"]).resolve(), (PROJECT_ROOT / row["cases"]).resolve(),
               (PROJECT_ROOT / row["forbid"]).resolve() if row.get("forbid") else None, bool(row.get("held_out")))
        for name, row in data.items()
    ]
    if names:
        unknown = set(names) - {c.name for c in corpora}
        if unknown:
            raise AssistantError(f"unknown corpus {', '.join(sorted(unknown))}: choose from "
                                 f"{', '.join(c.name for c in corpora)} (see {path.name})")
        corpora = [c for c in corpora if c.name in names]
    return corpora


def corpus_settings(base: Settings, corpus: Corpus, data_root: Path) -> Settings:
    """Settings for one corpus: its own documents, its own index folder and collection."""
    return replace(base, corpus_dir=corpus.corpus_dir, data_dir=data_root / corpus.name, chroma_host="",
                   collection=f"eval-{corpus.name}", llm_provider=base.llm_provider)


def open_assistant(base: Settings, corpus: Corpus, data_root: Path, embedder=None):
    """An assistant on the corpus's own index, brought up to date first (incremental)."""
    from assistant.embeddings import get_embedder
    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest
    from assistant.service import build_assistant

    settings = corpus_settings(base, corpus, data_root)
    embedder = embedder or get_embedder(settings)
    client = open_client(settings)
    run_ingest(settings, embedder, ChromaIndex(client, settings.collection), progress=False)
    return build_assistant(settings, embedder=embedder, client=client)
