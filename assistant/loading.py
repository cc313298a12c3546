"""Load corpus files (.txt, .md, .html, .pdf) into lines, with the metadata from ``sources.toml``.

Loaders keep the text of each line exactly as it is in the source, minus list bullets and
surrounding white space, so a quote taken from a line can be found again in the file.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorpusError

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
# A clinic's FAQ or aftercare sheet is kilobytes; a file this large is an export or a mistake,
# and would hold up every ingest.
MAX_FILE_BYTES = 20 * 1024 * 1024
METADATA_FILE = "sources.toml"

_BULLET = re.compile(r"^(?P<indent>\s*)(?:[•·▪◦‣∙*+-]|\d{1,2}[.)])\s+(?P<text>.*)$")
_MD_HEADING = re.compile(r"^\s{0,3}(?P<hashes>#{1,6})\s+(?P<text>.*?)\s*#*\s*$")


@dataclass(frozen=True)
class SourceLine:
    """One non-blank line of a document."""

    number: int  # 1-based line (or block) number in the source, for --explain
    text: str
    heading_level: int | None = None  # set when the format marks headings (md, html)
    bullet_depth: int | None = None  # None: not a list item; 0: top level, 1: nested...


@dataclass(frozen=True)
class SourceDocument:
    source: str  # file name relative to the corpus folder
    title: str
    origin: str
    sha256: str
    lines: tuple[SourceLine, ...]
    explicit_structure: bool  # headings come from markup, not guessed from plain text


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
    metadata = read_metadata(corpus_dir)
    result = LoadResult()
    for path in corpus_files(corpus_dir):
        name = path.relative_to(corpus_dir).as_posix()
        if only is not None and name not in only:
            continue
        try:
            result.documents.append(load_document(path, name, metadata.get(name, {})))
        except _Unreadable as exc:
            log.warning("skipped %s: %s", name, exc)
            result.skipped.append((name, str(exc)))
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
        lines, explicit = _pdf_lines(data), False
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _Unreadable(f"not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
        if suffix in (".html", ".htm"):
            lines, explicit = _html_lines(text), True
        elif suffix in (".md", ".markdown"):
            lines, explicit = _markdown_lines(text), True
        else:
            lines, explicit = _text_lines(text), False
    if not lines:
        raise _Unreadable("no text could be extracted")
    title = str(meta.get("title") or "").strip() or _fallback_title(lines, path)
    return SourceDocument(
        source=name,
        title=title,
        origin=str(meta.get("origin") or "").strip(),
        sha256=hashlib.sha256(data).hexdigest(),
        lines=tuple(lines),
        explicit_structure=explicit,
    )


def _fallback_title(lines: list[SourceLine], path: Path) -> str:
    for line in lines[:5]:
        if line.heading_level is not None or (len(line.text.split()) <= 12 and line.text[-1:] not in ".,;"):
            return line.text.rstrip(":")
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize()


def _text_lines(text: str) -> list[SourceLine]:
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        bullet = _BULLET.match(raw)
        if bullet and bullet.group("text").strip():
            depth = len(bullet.group("indent").expandtabs(4)) // 4
            out.append(SourceLine(number, bullet.group("text").strip(), bullet_depth=depth))
        else:
            out.append(SourceLine(number, raw.strip()))
    return out


def _markdown_lines(text: str) -> list[SourceLine]:
    out = []
    for line in _text_lines(text):
        heading = _MD_HEADING.match(line.text) if line.bullet_depth is None else None
        if heading:
            out.append(SourceLine(line.number, heading.group("text"), heading_level=len(heading.group("hashes"))))
        else:
            # Inline emphasis and links are markup, not words of the document.
            plain = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line.text)
            plain = re.sub(r"(\*\*|__|`)", "", plain)
            out.append(SourceLine(line.number, plain, bullet_depth=line.bullet_depth))
    return out


def _html_lines(text: str) -> list[SourceLine]:
    from bs4 import BeautifulSoup  # imported here: only HTML documents need it

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "iframe", "form"]):
        tag.decompose()
    out, number = [], 0
    for el in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "td", "dd", "dt"]):
        if el.find(["p", "li", "h1", "h2", "h3", "h4", "h5", "h6"]):
            continue  # a container: its children are visited on their own
        content = " ".join(el.get_text(" ").split())
        if not content:
            continue
        number += 1
        if el.name.startswith("h"):
            out.append(SourceLine(number, content, heading_level=int(el.name[1])))
        elif el.name == "li":
            depth = max(0, len(el.find_parents(["ul", "ol"])) - 1)
            out.append(SourceLine(number, content, bullet_depth=depth))
        else:
            out.append(SourceLine(number, content))
    return out


def _pdf_lines(data: bytes) -> list[SourceLine]:
    import io

    from pypdf import PdfReader  # imported here: only PDF documents need it
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise _Unreadable("the PDF is encrypted; save an unprotected copy")
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise _Unreadable(f"not a readable PDF ({exc})") from None
    # PDF text arrives wrapped at the page's width: a line that starts in lower case
    # continues the previous one, so sentences are not cut in half.
    merged: list[str] = []
    for raw in text.splitlines():
        raw = raw.strip()
        if not raw:
            continue
        if merged and raw[0].islower() and merged[-1][-1:] not in ".!?:":
            merged[-1] = f"{merged[-1]} {raw}"
        else:
            merged.append(raw)
    return _text_lines("\n".join(merged))
