"""Chroma storage: each ingest writes a new *build* (a chunks and a units collection), then flips
a pointer to it, so readers always see one complete build and never a half-written one.

Collections of a build ``B`` are ``<name>__chunks__B`` and ``<name>__units__B``; the pointer is
the metadata of ``<name>__active``. The build before the active one is kept, so a reader that
opened it just before a flip can finish its query; older builds are deleted.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import AssistantError, IndexNotReadyError, IndexUnreachableError, IndexWriteError, IngestBusyError

# A lock older than this is taken to be left by a crashed ingest on another machine.
LOCK_STALE_SECONDS = 6 * 3600
from .settings import Settings


def open_client(settings: Settings, fresh: bool = False):
    """A Chroma client, with anonymized telemetry off: the server at CHROMA_HOST:CHROMA_PORT
    when CHROMA_HOST is set (several app replicas can share it), else the folder DATA_DIR/chroma.

    Every request to a server times out after INDEX_TIMEOUT seconds, so a hung server cannot
    hold a worker forever. ``fresh`` opens the folder anew (after it was replaced on disk).
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        return _bounded(lambda: _http_client(settings, chroma_settings), settings.index_timeout,
                        f"the Chroma server at {settings.chroma_host}:{settings.chroma_port}")
    if fresh:
        # Chroma keeps one system per folder for the life of the process; a folder deleted and
        # built again on disk is only seen through a new one.
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def index_file(settings: Settings) -> Path | None:
    """The file whose identity says which folder index the process reads (None for a server)."""
    return None if settings.chroma_host else settings.data_dir / "chroma" / "chroma.sqlite3"


def _http_client(settings: Settings, chroma_settings):
    import chromadb
    import httpx

    try:
        client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
        # chromadb creates its HTTP session without a timeout and has no setting for one.
        client._server._session.timeout = httpx.Timeout(settings.index_timeout)
        client.heartbeat()
    except Exception as exc:
        raise IndexUnreachableError(
            f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} ({exc}): "
            "start it (`chroma run --path DIR --port PORT`) or unset CHROMA_HOST to use the local folder."
        ) from None
    return client


def _bounded(make, seconds: float, what: str):
    """``make()`` in a daemon thread, given up after ``seconds`` (a hung server may never answer)."""
    result: dict = {}

    def run():
        try:
            result["value"] = make()
        except BaseException as exc:  # handed to the caller below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True, name="open-index")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise IndexUnreachableError(f"{what} did not answer within {seconds:g} s: check that it is running "
                                    "and not overloaded, or raise INDEX_TIMEOUT.")
    if "error" in result:
        raise result["error"]
    return result["value"]


@dataclass(frozen=True)
class BuildInfo:
    build: str
    embedding_model: str
    corpus_fingerprint: str
    pipeline: str
    chunks: int
    units: int
    files: int
    ingested_at: str

    def as_metadata(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_metadata(cls, meta: dict) -> "BuildInfo":
        return cls(**{k: meta[k] for k in cls.__dataclass_fields__})


@dataclass
class Records:
    """Rows read from or written to one collection; embeddings as an (n, d) array."""

    ids: list[str]
    documents: list[str]
    metadatas: list[dict]
    embeddings: np.ndarray


class ChromaIndex:
    def __init__(self, client, name: str, opener=None) -> None:
        self.client = client
        self.name = name
        self.opener = opener  # makes a new client when the store was replaced on disk
        self._held_lock: str | None = None  # the lock collection this object created

    def reopen(self) -> None:
        if self.opener is not None:
            self.client = self.opener()

    # --- names -----------------------------------------------------------------------
    def _pointer_name(self) -> str:
        return f"{self.name}__active"

    def chunks_name(self, build: str) -> str:
        return f"{self.name}__chunks__{build}"

    def units_name(self, build: str) -> str:
        return f"{self.name}__units__{build}"

    # --- reading ---------------------------------------------------------------------
    def active_build(self) -> BuildInfo | None:
        """The build queries should read, None when there is none; IndexUnreachableError when
        the store failed or did not answer (not the same as "no index")."""
        from chromadb.errors import NotFoundError

        try:
            pointer = self.client.get_collection(self._pointer_name(), embedding_function=None)
        except (NotFoundError, ValueError):  # the backends differ in how they say "no such collection"
            return None
        except Exception as exc:
            raise IndexUnreachableError(f"the index store failed: {exc.__class__.__name__}: {exc}") from None
        meta = pointer.metadata or {}
        if "build" not in meta or meta.get("build") == "none":
            return None
        return BuildInfo.from_metadata(meta)

    def require_active(self, settings: Settings) -> BuildInfo:
        info = self.active_build()
        if info is None:
            raise IndexNotReadyError(
                f"no index in {settings.data_dir}: run `python ingest.py` first (or `make run`, which does it)."
            )
        return info

    def collections(self, build: str):
        try:
            return (self.client.get_collection(self.chunks_name(build), embedding_function=None),
                    self.client.get_collection(self.units_name(build), embedding_function=None))
        except Exception as exc:
            raise IndexNotReadyError(
                f"index build {build} is incomplete ({exc}): run `python ingest.py --rebuild`."
            ) from None

    def read_all(self, collection, include_embeddings: bool = True) -> Records:
        include = ["documents", "metadatas"] + (["embeddings"] if include_embeddings else [])
        ids, docs, metas, vecs = [], [], [], []
        total = collection.count()
        step = 5000
        for offset in range(0, total, step):
            got = collection.get(include=include, limit=step, offset=offset)
            ids += got["ids"]
            docs += got["documents"]
            metas += got["metadatas"]
            if include_embeddings:
                vecs.append(np.asarray(got["embeddings"], dtype=np.float32))
        embeddings = np.concatenate(vecs) if vecs else np.zeros((0, 0), dtype=np.float32)
        return Records(ids, docs, metas, embeddings)

    # --- the ingest lock ----------------------------------------------------------------
    # A collection as a mutex: creating one that exists fails, in the folder store and on a
    # server alike, so two ingests (even on two machines) cannot both hold it.
    def _lock_prefix(self) -> str:
        return f"{self.name}__ingest_lock__"

    def _lock_generations(self) -> list[tuple[int, str]]:
        """The lock collections that exist, as (generation, name), oldest first."""
        prefix, found = self._lock_prefix(), []
        for collection in self.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            if name.startswith(prefix) and name[len(prefix):].isdigit():
                found.append((int(name[len(prefix):]), name))
        return sorted(found)

    def acquire_ingest_lock(self) -> None:
        """Hold the ingest lock, or raise IngestBusyError naming the ingest that holds it.

        The lock is a collection named with a generation number; creating a collection is atomic
        (a second create of the same name fails), so of two processes that find the lock free, or
        both take over the same stale one by creating its next generation, exactly one wins.
        """
        meta = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        generations = self._lock_generations()
        target = 0
        if generations:
            generation, name = generations[-1]
            holder = self._lock_holder(name)
            if holder is not None and not _stale(holder):
                raise self._busy(holder)
            target = generation + 1  # free, or left by a crashed ingest: take it over
        name = f"{self._lock_prefix()}{target}"
        try:
            self.client.create_collection(name, metadata=meta, embedding_function=None)
        except Exception:
            raise self._busy(self._lock_holder(name) or {}) from None  # another ingest won the race
        self._held_lock = name
        for _, older in generations:
            self._delete(older)

    def release_ingest_lock(self) -> None:
        held, self._held_lock = self._held_lock, None
        if held:
            self._delete(held)

    def _busy(self, holder: dict) -> IngestBusyError:
        return IngestBusyError(
            f"another ingest is running (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started "
            f"{time.time() - float(holder.get('started', time.time())):.0f} s ago): wait for it to finish, then run "
            "this again. Queries keep using the current index meanwhile."
        )

    def _lock_holder(self, name: str) -> dict | None:
        try:
            return dict(self.client.get_collection(name, embedding_function=None).metadata or {})
        except Exception:
            return None

    # --- writing ---------------------------------------------------------------------
    def write_build(self, info: BuildInfo, chunks: Records, units: Records) -> None:
        """Write a complete build and make it active; on any failure the old build stays active."""
        created = []
        try:
            for name, records in ((self.chunks_name(info.build), chunks), (self.units_name(info.build), units)):
                collection = self.client.create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}},
                    metadata={"build": info.build, "embedding_model": info.embedding_model,
                              "corpus_fingerprint": info.corpus_fingerprint},
                )
                created.append(name)
                for batch in _batches(records, self.client.get_max_batch_size()):
                    collection.add(ids=batch.ids, documents=batch.documents,
                                   metadatas=batch.metadatas, embeddings=batch.embeddings)
            self._activate(info)
        except BaseException as exc:
            for name in created:
                self._delete(name)
            if isinstance(exc, (AssistantError, KeyboardInterrupt, SystemExit)) or not isinstance(exc, Exception):
                raise
            raise IndexWriteError(
                f"could not write the new index build ({exc.__class__.__name__}: {exc}): the disk may be full or "
                "the data folder read-only. Free space or fix its permissions, then run `python ingest.py` again; "
                "the index in use is unchanged."
            ) from exc
        self._delete_old_builds(keep={info.build, self._previous_build(info.build)})

    def _activate(self, info: BuildInfo) -> None:
        previous = self.active_build()
        meta = info.as_metadata() | {"previous": previous.build if previous else ""}
        pointer = self.client.get_or_create_collection(self._pointer_name(), embedding_function=None,
                                                       metadata={"build": "none"})
        pointer.modify(metadata=meta)

    def _previous_build(self, current: str) -> str:
        try:
            meta = self.client.get_collection(self._pointer_name(), embedding_function=None).metadata or {}
        except Exception:
            return ""
        return meta.get("previous", "") if meta.get("build") == current else ""

    def _delete_old_builds(self, keep: set[str]) -> None:
        prefixes = (f"{self.name}__chunks__", f"{self.name}__units__")
        for collection in self.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            for prefix in prefixes:
                if name.startswith(prefix) and name[len(prefix):] not in keep:
                    self._delete(name)

    def _delete(self, name: str) -> None:
        try:
            self.client.delete_collection(name)
        except Exception:
            pass  # already gone: deleting is only tidying up


def _stale(holder: dict) -> bool:
    """A lock whose process is gone (same machine) or that is very old (any machine)."""
    if time.time() - float(holder.get("started", 0)) > LOCK_STALE_SECONDS:
        return True
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder.get("pid", -1)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False


def _batches(records: Records, size: int) -> Iterator[Records]:
    for start in range(0, len(records.ids), size):
        end = start + size
        yield Records(records.ids[start:end], records.documents[start:end],
                      records.metadatas[start:end], records.embeddings[start:end])
