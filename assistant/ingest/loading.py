"""Load corpus files (.txt, .md, .html, .pdf) into lines, with the metadata from ``sources.toml``.

Loaders keep the text of each line exactly as it is in the source, minus list bullets and
surrounding white space, so a quote taken from a line can be found again in the file.
"""

from __future__ import annotations

import hashlib
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CorpusError
from .html_lines import NestedTooDeep, html_lines
from .structure import Dropped, SourceLine
from .text_lines import text_lines

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
# A clinic's FAQ or aftercare sheet is kilobytes; a file this large is an export or a mistake,
# and would hold up every ingest.
MAX_FILE_BYTES = 20 * 1024 * 1024
# A leaflet, consent form or treatment manual is tens of pages; pypdf reads about a page a
# millisecond when the text is simple (a 20,000-page PDF of 3.3 MB took 21.7 s), more when it is not,
# and each page's text is held at once: a book-length export is refused before any page is read.
MAX_PDF_PAGES = 500
METADATA_FILE = "sources.toml"
# Who may be shown a document: everyone (the chat page, the widget, /api/ask), or only the
# clinic's staff (the front desk and the staff API). Set per file in sources.toml.
PUBLIC, STAFF = "public", "staff"
AUDIENCES = (PUBLIC, STAFF)



@dataclass(frozen=True)
class SourceDocument:
    source: str  # file name relative to the corpus folder
    title: str
    origin: str
    sha256: str
    lines: tuple[SourceLine, ...]
    explicit_structure: bool  # headings come from markup, not guessed from plain text
    dropped: tuple[Dropped, ...] = ()  # what the format's own structure marks as not content
    audience: str = PUBLIC


@dataclass
class LoadResult:
    documents: list[SourceDocument] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Files the loaders know, sorted; the metadata file and hidden files are not documents."""
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"corpus folder {corpus_dir} does not exist: create it and put .txt, .md, .html "
            "or .pdf documents in it, or set CORPUS_DIR to the folder that holds them."
        )
    return sorted(
        p for p in corpus_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
        and p.name != METADATA_FILE
    )


def read_metadata(corpus_dir: Path) -> dict[str, dict]:
    path = corpus_dir / METADATA_FILE
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path} is not valid TOML ({exc}); fix or delete it and ingest again.") from None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_corpus(corpus_dir: Path, only: set[str] | None = None) -> LoadResult:
    """Load every readable document; unreadable or unsupported files are skipped with a reason.

    ``only``: relative names to load (the others are left out silently), for incremental ingest.
    """
    # Files first, then their entries: the console writes a staff-only entry before the file it
    # describes, so a file found here is never read without an entry written for it already.
    files = corpus_files(corpus_dir)
    metadata = read_metadata(corpus_dir)
    result = LoadResult()
    for path in files:
        name = path.relative_to(corpus_dir).as_posix()
        if only is not None and name not in only:
            continue
        try:
            result.documents.append(load_document(path, name, metadata.get(name, {})))
        except _Unreadable as exc:
            log.warning("skipped %s: %s", name, exc)
            result.skipped.append((name, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one document's fault must not stop the others
            # A fault of ours on input nobody foresaw: the file is skipped like an unreadable one,
            # with the trace in the log for a bug report, and every other document still loads.
            log.exception("skipped %s: it could not be read", name)
            result.skipped.append((name, f"could not be read ({type(exc).__name__}); the other files were "
                                         "loaded - save it in another format, and please report it"))
    return result


class _Unreadable(Exception):
    pass


def load_document(path: Path, name: str, meta: dict) -> SourceDocument:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise _Unreadable(f"unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _Unreadable(f"too large ({size / 1e6:.0f} MB, the limit is {MAX_FILE_BYTES / 1e6:.0f} MB); "
                              "split it or keep only the text")
        data = path.read_bytes()
    except OSError as exc:
        raise _Unreadable(f"cannot be read ({exc.strerror or exc}); check its permissions") from None
    if not data.strip():
        raise _Unreadable("the file is empty")
    if suffix != ".pdf" and b"\x00" in data[:8192]:
        raise _Unreadable(f"binary data in a {suffix} file; save the document as text")
    if suffix == ".pdf":
        lines, dropped = text_lines(_pdf_text(data))
        explicit = False
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _Unreadable(f"not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if suffix in (".html", ".htm"):
            try:
                (lines, dropped), explicit = html_lines(text), True
            except NestedTooDeep as exc:
                raise _Unreadable(str(exc)) from None
        elif suffix in (".md", ".markdown"):
            (lines, dropped), explicit = text_lines(text, markdown=True), True
        else:
            (lines, dropped), explicit = text_lines(text), False
    if not lines:
        raise _Unreadable("no text could be extracted")
    title = str(meta.get("title") or "").strip() or _fallback_title(lines, path)
    audience = str(meta.get("audience") or PUBLIC).strip()
    if audience not in AUDIENCES:
        # Refused rather than guessed: a typo must not make staff notes public.
        raise _Unreadable(f"audience {audience!r} in {METADATA_FILE} must be {' or '.join(AUDIENCES)}")
    return SourceDocument(
        source=name,
        title=title,
        origin=str(meta.get("origin") or "").strip(),
        sha256=hashlib.sha256(data).hexdigest(),
        lines=tuple(lines),
        explicit_structure=explicit,
        dropped=tuple(dropped),
        audience=audience,
    )


def _fallback_title(lines: list[SourceLine], path: Path) -> str:
    for line in lines[:5]:
        if line.heading_level is not None or (len(line.text.split()) <= 12 and line.text[-1:] not in ".,;"):
            return line.text.rstrip(":")
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize()


def _pdf_text(data: bytes) -> str:
    """The PDF's text, pages separated by form feeds (as printed text files separate them)."""
    import io

    from pypdf import PdfReader  # imported here: only PDF documents need it
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise _Unreadable("the PDF is encrypted; save an unprotected copy")
        pages = len(reader.pages)
        if pages > MAX_PDF_PAGES:
            raise _Unreadable(f"the PDF has {pages:,} pages (the limit is {MAX_PDF_PAGES}); save only the pages "
                              "with what patients and staff need to know, or split it")
        return "\f".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise _Unreadable(f"not a readable PDF ({exc})") from None
