"""The document library behind the console: corpus/ and its sources.toml, the same files
`python ingest.py` reads, so the command line and the console stay one system; and the queue
that runs an incremental ingest after each change, one at a time, in the background."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import LRUCache

from ...errors import AssistantError, IngestBusyError
from ...ingest.ingestion import file_version
from ...ingest.isolation import Reading, read_isolated
from ...ingest.loading import AUDIENCES, METADATA_FILE, PUBLIC, STAFF, corpus_files, file_sha256, read_metadata
from ...ingest.structure import Dropped

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".pdf")  # what the upload form offers (the loader also reads aliases)
# What the console calls each audience, in the list, on a document's page and in its messages.
AUDIENCE_LABELS = {STAFF: "Staff only", PUBLIC: "Public"}
TYPES = {".txt": "text", ".md": "Markdown", ".markdown": "Markdown", ".html": "HTML", ".htm": "HTML", ".pdf": "PDF"}
MAX_NAME_CHARS = 100


class Refused(AssistantError):
    """A change the library will not make; the message says why and what to do instead."""


@dataclass(frozen=True)
class DocumentInfo:
    name: str
    title: str
    origin: str
    type: str
    size: int
    audience: str
    status: str  # "indexed", "skipped" or "waiting" (not in the serving index yet)
    passages: int
    reason: str  # why it was skipped
    last_ingest: str  # when the serving index took in this version of it
    withheld: tuple[str, ...] = ()  # labels under which the document's own text says "not to be used" (staff only)


def safe_name(client_name: str) -> str:
    """The file name to store an upload under: the last part of whatever path the browser sent,
    reduced to ASCII letters, digits, '.', '-' and '_' (never a path, never hidden)."""
    base = re.split(r"[\\/]", client_name or "")[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_.")[:MAX_NAME_CHARS] or "document"
    suffix = re.sub(r"[^A-Za-z0-9]", "", suffix).lower()
    return f"{stem}.{suffix}" if suffix else stem


class DocumentLibrary:
    def __init__(self, settings) -> None:
        self.settings = settings
        self.corpus = settings.corpus_dir
        self._lock = threading.Lock()  # one change to corpus/ and sources.toml at a time
        self._seen: dict[str, tuple[str, str]] = {}  # name -> (file version, when first served)
        # What reading each version of a file found, so a page shows it without reading it again.
        self._readings: LRUCache = LRUCache(maxsize=1024)
        self._readings_lock = threading.Lock()
        # Each worker may use PARSE_MEMORY_MB: two at once bound the console's share of the machine.
        self._workers = threading.BoundedSemaphore(2)

    # --- reading -----------------------------------------------------------------------
    def documents(self, snapshot=None) -> list[DocumentInfo]:
        """Every file in corpus/, with what the serving index (``snapshot``, or None) holds of it."""
        metadata, held = read_metadata(self.corpus), _Held.of(snapshot)
        return [self._info(path, path.relative_to(self.corpus).as_posix(), metadata, held)
                for path in corpus_files(self.corpus)]

    def get(self, name: str, snapshot=None) -> DocumentInfo:
        """One document, as ``documents`` lists it; the others are not looked at."""
        return self._info(self._existing(name), name, read_metadata(self.corpus), _Held.of(snapshot))

    def explain(self, name: str) -> tuple[list[Dropped], str]:
        """What cleaning drops from the document and why (`ingest.py --explain`, for one file);
        and the reason when the file cannot be read at all."""
        reading = self._read_file(self._existing(name), name, read_metadata(self.corpus).get(name, {}))
        return list(reading.dropped), reading.reason

    def _info(self, path: Path, name: str, metadata: dict, held: "_Held") -> DocumentInfo:
        meta = metadata.get(name, {})
        # Indexed means indexed as the file and its entry are now: after an edit (a new
        # audience, say) the serving index still holds the old version until the ingest is done.
        if name in held.passages and held.versions[name] == file_version(file_sha256(path), metadata.get(name)):
            status, reason = "indexed", ""
            seen = self._seen.get(name)
            if seen is None or seen[0] != held.versions[name]:
                self._seen[name] = seen = (held.versions[name], held.built_at)
            when = seen[1]
        else:
            # A file the index does not hold is read (no embedding), once a version, to say why.
            reason, when = self._read_file(path, name, meta).reason, ""
            status = "skipped" if reason else "waiting"
        return DocumentInfo(
            name=name, title=str(meta.get("title") or ""), origin=str(meta.get("origin") or ""),
            type=TYPES.get(path.suffix.lower(), path.suffix.lower() or "(none)"), size=path.stat().st_size,
            audience=str(meta.get("audience") or PUBLIC), status=status, passages=held.passages.get(name, 0),
            reason=reason, last_ingest=when, withheld=tuple(held.withheld.get(name, ())) if status == "indexed" else ())

    def _read_file(self, path: Path, name: str, meta: dict) -> Reading:
        """What ingest makes of a corpus file, read in a worker once for each version of the file and its entry."""
        stat = path.stat()
        key = (name, stat.st_ino, stat.st_mtime_ns, stat.st_size, json.dumps(meta, sort_keys=True, default=str))
        with self._readings_lock:
            found = self._readings.get(key)
        if found is None:
            found = self._read(name, path, meta)
            with self._readings_lock:
                self._readings[key] = found
        return found

    def _read(self, name: str, source: bytes | Path, meta: dict) -> Reading:
        """``source`` (an upload's bytes, or a corpus file) read as ingest reads it, in a worker process."""
        with self._workers:
            return read_isolated(name, source, meta, timeout=self.settings.parse_timeout,
                                 memory_mb=self.settings.parse_memory_mb)

    # --- changing ------------------------------------------------------------------------
    def add(self, client_name: str, data: bytes, title: str = "", origin: str = "", audience: str = STAFF,
            replace: bool = False) -> str:
        """Store an upload in corpus/ under a safe name; refused (nothing changed) when it is too
        large, of another type, or cannot be read the way ingest would read it.

        Staff-only unless ``audience`` says public: a new file may hold internal notes, and is
        shown to patients only once a manager publishes it (``set_audience``)."""
        name = safe_name(client_name)
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise Refused(f"{name}: only {', '.join(UPLOAD_SUFFIXES)} files can be added; save the document "
                          "in one of these formats")
        limit = self.settings.max_upload_bytes
        if len(data) > limit:
            raise Refused(f"{name} is too large ({len(data) / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB): "
                          "keep only the text, or split it")
        self._check_audience(audience)
        reason = self._read(name, data, {}).reason
        if reason:
            raise Refused(f"{name} was not added: {reason}")
        entry = {"title": title, "origin": origin, "audience": audience}
        with self._lock:
            target = self.corpus / name
            if target.exists() and not replace:
                raise Refused(f"a document named {name} exists already: tick “replace” to upload a new "
                              "version, or rename the file")
            # An ingest lists the files before it reads sources.toml, so whichever of the two it
            # catches in between, it never takes staff text for public: a staff-only entry is
            # written before the new bytes, a public one after them.
            if audience == STAFF:
                saved = self._metadata_text()
                self._write_entry(name, entry, keep_others=replace)
                try:
                    self._write_file(target, data)
                except BaseException:
                    self._restore_metadata(saved)
                    raise
            else:
                self._write_file(target, data)
                self._write_entry(name, entry, keep_others=replace)
        return name

    def update(self, name: str, title: str, origin: str, audience: str | None = None) -> None:
        """A new title and origin; the audience too when given (else it stays as it is)."""
        entry = {"title": title, "origin": origin}
        if audience is not None:
            self._check_audience(audience)
            entry["audience"] = audience
        with self._lock:
            self._existing(name)
            self._write_entry(name, entry)

    def set_audience(self, name: str, audience: str) -> None:
        """Publish a document to patients (``public``) or take it back to the staff (``staff``)."""
        self._check_audience(audience)
        with self._lock:
            self._existing(name)
            self._write_entry(name, {"audience": audience})

    def delete(self, name: str) -> None:
        with self._lock:
            path = self._existing(name)
            path.unlink()
            self._write_entry(name, None)

    def _existing(self, name: str) -> Path:
        known = {p.relative_to(self.corpus).as_posix(): p for p in corpus_files(self.corpus)}
        if name not in known:  # only names listed from corpus/: no path from the client is ever opened
            raise Refused(f"no document named {name!r} in {self.corpus}: it may have been deleted")
        return known[name]

    @staticmethod
    def _check_audience(audience: str | None) -> None:
        if not audience:
            raise Refused("no audience was chosen: choose who may see the document, “staff” (the front desk "
                          "only) or “public” (patients too)")
        if audience not in AUDIENCES:
            raise Refused(f"audience {audience!r} is not known: choose “staff” (the front desk only) or "
                          "“public” (patients too)")

    @staticmethod
    def _write_file(target: Path, data: bytes) -> None:
        # Written beside the target under a hidden name (ingest skips hidden files), then
        # renamed: an ingest running meanwhile sees the old file or the new one, never half.
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _metadata_text(self) -> str | None:
        path = self.corpus / METADATA_FILE
        return path.read_text(encoding="utf-8") if path.exists() else None

    def _restore_metadata(self, text: str | None) -> None:
        path = self.corpus / METADATA_FILE
        if text is None:
            path.unlink(missing_ok=True)
        else:
            self._replace_metadata(text)

    def _replace_metadata(self, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".sources-", dir=self.corpus)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.corpus / METADATA_FILE)

    def _write_entry(self, name: str, values: dict | None, keep_others: bool = True) -> None:
        """Set (or, with None, remove) a document's table in sources.toml, keeping the file's comments."""
        import tomlkit

        path = self.corpus / METADATA_FILE
        doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
        if values is None:
            doc.pop(name, None)
        else:
            table = doc.get(name) if keep_others and name in doc else tomlkit.table()
            for key, value in values.items():
                value = (value or "").strip()
                # Public is sources.toml's default (files put in corpus/ by hand, and every entry
                # made before uploads became staff-only), so a public document has no audience key.
                if value and not (key == "audience" and value == PUBLIC):
                    table[key] = value
                else:
                    table.pop(key, None)
            if len(table):
                doc[name] = table
            else:
                doc.pop(name, None)
        self._replace_metadata(tomlkit.dumps(doc))


@dataclass(frozen=True)
class _Held:
    """What the serving index holds of each file: its passages, the version it read, when it was built."""

    passages: Counter
    versions: dict[str, str]
    built_at: str
    withheld: dict[str, dict[str, None]]  # the labels that keep passages of a file from patients, in order

    @classmethod
    def of(cls, snapshot) -> "_Held":
        passages: Counter = Counter()
        versions: dict[str, str] = {}
        withheld: dict[str, dict[str, None]] = {}
        if snapshot is not None:
            for meta in snapshot.meta.values():
                passages[meta["source"]] += 1
                versions[meta["source"]] = meta.get("file_version", "")
                if meta.get("withheld"):
                    withheld.setdefault(meta["source"], {})[meta["withheld"]] = None
        return cls(passages, versions, snapshot.info.ingested_at if snapshot is not None else "", withheld)


# --- the ingest queue --------------------------------------------------------------------

@dataclass
class Job:
    id: int
    label: str  # what changed ("added aftercare.pdf")
    state: str = "queued"  # queued, running, done, failed
    stage: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    queued_at: float = field(default_factory=time.time)

    def as_json(self) -> dict:
        return {"id": self.id, "label": self.label, "state": self.state, "stage": self.stage, "done": self.done,
                "total": self.total, "message": self.message}


class IngestQueue:
    """Changes queue here; one worker thread runs an incremental ingest per job, in order. The
    index's own lock keeps a command-line ingest and this one apart too (the job then waits)."""

    def __init__(self, assistant, busy_wait: float = 3.0, keep: int = 20) -> None:
        self.assistant = assistant
        self.busy_wait, self.keep = busy_wait, keep
        self._jobs: list[Job] = []
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._next = 1

    def submit(self, label: str) -> Job:
        with self._cond:
            job = Job(self._next, label)
            self._next += 1
            self._jobs.append(job)
            del self._jobs[:-self.keep]
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="console-ingest", daemon=True)
                self._worker.start()
            self._cond.notify_all()
            return job

    def jobs(self) -> list[dict]:
        with self._cond:
            return [j.as_json() for j in reversed(self._jobs)]

    def idle(self) -> bool:
        with self._cond:
            return all(j.state in ("done", "failed") for j in self._jobs)

    def _run(self) -> None:
        while True:
            with self._cond:
                job = next((j for j in self._jobs if j.state == "queued"), None)
                if job is None:
                    self._worker = None
                    return
                job.state = "running"
            self._ingest(job)

    def _ingest(self, job: Job) -> None:
        from ...ingest.ingestion import run_ingest

        def progress(stage: str, done: int, total: int) -> None:
            job.stage, job.done, job.total = stage, done, total

        settings, index = self.assistant.settings, self.assistant.index
        while True:
            try:
                report = run_ingest(settings, self.assistant.embedder, index, progress=False, on_progress=progress)
                break
            except IngestBusyError as exc:  # a command-line ingest holds the index: wait our turn
                job.stage, job.message = "waiting", str(exc)
                time.sleep(self.busy_wait)
            except Exception as exc:  # noqa: BLE001 - shown on the page; the serving index is unchanged
                log.exception("console ingest failed")
                job.state, job.message = "failed", f"{exc} (the serving index is unchanged)"
                return
        self.assistant.reader.refresh()  # answer from the new build at once
        job.state, job.stage, job.message = "done", "", report.summary()
