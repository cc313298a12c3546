"""Plain text, PDF text and Markdown into structured lines.

Clinics drop in handouts exported from word processors and PDFs: text wrapped at a fixed width,
words hyphenated across lines, running page headers and footers, form fields, ruled headings and
ASCII tables. Each rule here reads the *shape* of the text (line widths, repeated lines across
pages, rulers, table borders), never a known string, and every line it removes is reported with
its reason so ``ingest.py --explain`` can show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .structure import Dropped, SourceLine, table_row_text
from ..text import dehyphenate, fold_typography, strip_reference_markers, words

_BULLET = re.compile(r"^(?P<indent>\s*)(?P<mark>[•·▪◦‣∙*+-]|\d{1,2}[.)])\s+(?P<text>\S.*)$")
_RULER = re.compile(r"^\s*[-=_~*#+.·]{3,}\s*$")
_TABLE_BORDER = re.compile(r"^\s*\+[-=+]+\+\s*$|^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
# A form to fill in: blanks of three or more underscores, or tick boxes.
_FORM_FIELD = re.compile(r"_{3,}|\[\s?\]")
# "Page 2 of 3", "Page 4", "- 5 -": page numbering is furniture in every document format.
_PAGE_NUMBER = re.compile(r"\bpage\s+\d+(\s+of\s+\d+)?\b|^\s*-\s*\d+\s*-\s*$", re.IGNORECASE)
_MD_HEADING = re.compile(r"^\s{0,3}(?P<hashes>#{1,6})\s+(?P<text>.*?)\s*#*\s*$")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|`|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*]))")
_YEAR = re.compile(r"\b(19|20)\d\d\b")

# A wrapped line reaches close to the text's wrap width; a line this much shorter than the
# widest lines ended on purpose. 0.75 keeps the usual ragged right margin of wrapped prose
# (lines of 60-80 in an 80-column text) and ends short list entries and headings.
WRAPPED_FRACTION = 0.75


@dataclass
class _Raw:
    number: int  # 1-based line number in the file
    text: str  # without trailing white space
    page: int


def _raw_lines(text: str) -> list[_Raw]:
    out, page = [], 0
    for number, line in enumerate(fold_typography(text).split("\n"), start=1):
        page += line.count("\f")
        out.append(_Raw(number, line.replace("\f", "").rstrip(), page))
    return out


def _running_lines(raw: list[_Raw]) -> set[int]:
    """Lines repeated at the top or bottom of two or more pages: running headers and footers."""
    pages: dict[int, list[_Raw]] = {}
    for r in raw:
        if r.text.strip():
            pages.setdefault(r.page, []).append(r)
    if len(pages) < 2:
        return set()
    edge_keys: dict[str, set[int]] = {}
    for page, lines in pages.items():
        for r in lines[:3] + lines[-3:]:
            edge_keys.setdefault(_page_key(r.text), set()).add(page)
    repeated = {k for k, p in edge_keys.items() if len(p) >= 2}
    return {r.number for lines in pages.values() for r in lines[:3] + lines[-3:] if _page_key(r.text) in repeated}


def _page_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.split()).lower())


def text_lines(text: str, markdown: bool = False) -> tuple[list[SourceLine], list[Dropped]]:
    """Structured lines of a plain-text (or Markdown) document, and what was dropped on the way."""
    raw = _raw_lines(text)
    dropped: list[Dropped] = []
    if markdown:
        raw = _drop_front_matter(raw, dropped)
    out = _LineReader(raw, dropped, markdown, doc_words=set(words(text))).read()
    out = [replace(l, text=strip_reference_markers(l.text)) for l in out]
    return _drop_bibliography(out, dropped), dropped


class _LineReader:
    """Reads a text's lines top to bottom, each through the stages in ``_line``: page furniture,
    form fields, tables, rulers, Markdown, then list items, headings and wrapped paragraphs.
    What a line is often depends on the lines before it; that state lives here."""

    def __init__(self, raw: list[_Raw], dropped: list[Dropped], markdown: bool, doc_words: set[str]) -> None:
        self.raw, self.dropped, self.markdown, self.doc_words = raw, dropped, markdown, doc_words
        self.running = _running_lines(raw)
        self.width = _wrap_width(raw)
        self.out: list[SourceLine] = []
        self.table: list[tuple[int, list[str]]] = []  # (line number, cells) of the table being read
        self.header: list[str] | None = None
        self.paragraph_open = False  # the last line may continue on the next one
        self.prev_blank = True
        self.in_form, self.form_indent = False, 0
        self.item_indent: int | None = None  # where the text of the current list item starts

    def read(self) -> list[SourceLine]:
        for i, r in enumerate(self.raw):
            self._line(i, r)
        self._flush_table()
        return self.out

    def _line(self, i: int, r: _Raw) -> None:
        stripped = r.text.strip()
        if not stripped:
            self.prev_blank = True
            return
        indent = len(r.text) - len(r.text.lstrip())
        if self._page_furniture(r, stripped) or self._form_field(r, stripped, indent) or self._table_line(i, r, stripped):
            return
        self._flush_table()
        if self._ruler(stripped):
            return
        line = r.text
        if self.markdown:
            line = self._markdown_line(r, stripped)
            if line is None:
                return
            stripped = _md_inline(line.strip())
            if not stripped:
                return
        self._text_line(r, line, stripped, indent)
        self.prev_blank = False

    def _page_furniture(self, r: _Raw, stripped: str) -> bool:
        if r.number in self.running or _PAGE_NUMBER.search(stripped):
            self.dropped.append(Dropped(r.number, stripped, "running page header, footer or page number"))
            return True
        return False

    def _form_field(self, r: _Raw, stripped: str, indent: int) -> bool:
        """A blank to fill in, a tick box, and the indented lines that continue them."""
        if _FORM_FIELD.search(stripped) or (self.in_form and not self.prev_blank and indent > self.form_indent):
            self.dropped.append(Dropped(r.number, stripped, "form field to fill in"))
            if not self.in_form or indent <= self.form_indent:
                self.form_indent = indent
            self.in_form, self.paragraph_open = True, False
            return True
        self.in_form = False
        return False

    def _table_line(self, i: int, r: _Raw, stripped: str) -> bool:
        if _TABLE_BORDER.match(stripped) and (self.table or _next_is_table(self.raw, i)):
            if self.table and self.header is None and len(self.table) == 1:
                self.header = self.table.pop()[1]  # the row above the first rule names the columns
            return True
        if _TABLE_ROW.match(stripped):
            self.table.append((r.number, [c.strip() for c in stripped.strip("|").split("|")]))
            return True
        return False

    def _flush_table(self) -> None:
        for number, cells in self.table:
            self.out.append(SourceLine(number, table_row_text(self.header, cells), row=True))
        self.table, self.header = [], None

    def _ruler(self, stripped: str) -> bool:
        """A rule under a line makes it a heading (setext style, or a ruled banner)."""
        if not _RULER.match(stripped):
            return False
        out = self.out
        if out and not self.prev_blank and out[-1].heading_level is None and out[-1].bullet_depth is None \
                and _short(out[-1].text):
            last = out.pop()
            out.append(SourceLine(last.number, last.text, heading_level=2))
        self.paragraph_open = False
        self.prev_blank = True
        return True

    def _markdown_line(self, r: _Raw, stripped: str) -> str | None:
        """The line without its quote-block markers, or None when a heading or an image took it."""
        heading = _MD_HEADING.match(r.text)
        if heading:
            self.out.append(SourceLine(r.number, _md_inline(heading.group("text")),
                                       heading_level=len(heading.group("hashes"))))
            self.paragraph_open, self.prev_blank = False, False
            return None
        if _MD_IMAGE.fullmatch(stripped):
            self.dropped.append(Dropped(r.number, stripped, "image"))
            return None
        return re.sub(r"^(\s*>\s?)+", "", r.text)  # a quote block's marker is markup

    def _text_line(self, r: _Raw, line: str, stripped: str, indent: int) -> None:
        """A list item, its indented continuation, a capitals heading, a wrapped line or a new paragraph."""
        out = self.out
        bullet = _BULLET.match(line)
        if bullet:
            depth = len(bullet.group("indent").expandtabs(4)) // 4
            item = bullet.group("text").strip()
            out.append(SourceLine(r.number, _md_inline(item) if self.markdown else item,
                                  bullet_depth=depth, numbered=bullet.group("mark")[0].isdigit()))
            self.item_indent = bullet.start("text")
            self.paragraph_open = True
        elif self.item_indent is not None and not self.prev_blank and indent >= self.item_indent \
                and out[-1].bullet_depth is not None:
            out[-1] = _joined(out[-1], stripped, self.doc_words)  # an indented line continues its list item
        elif _caps_heading(stripped):
            out.append(SourceLine(r.number, stripped, heading_level=2))
            self.paragraph_open, self.item_indent = False, None
        elif out and (self.paragraph_open or not self.prev_blank) and \
                _continues(out[-1], stripped, self.width, self.prev_blank):
            out[-1] = _joined(out[-1], stripped, self.doc_words)
        else:
            out.append(SourceLine(r.number, stripped))
            self.paragraph_open, self.item_indent = True, None


def _drop_front_matter(raw: list[_Raw], dropped: list[Dropped]) -> list[_Raw]:
    first = next((k for k, r in enumerate(raw) if r.text.strip()), None)
    if first is None or raw[first].text.strip() != "---":
        return raw
    end = next((k for k in range(first + 1, len(raw)) if raw[k].text.strip() in ("---", "...")), None)
    if end is None:
        return raw
    for r in raw[first:end + 1]:
        if r.text.strip() not in ("---", "..."):
            dropped.append(Dropped(r.number, r.text.strip(), "front matter (document metadata)"))
    return raw[end + 1:]


def _wrap_width(raw: list[_Raw]) -> int:
    lengths = sorted(len(r.text.strip()) for r in raw if len(r.text.strip()) > 20)
    if not lengths:
        return 80
    return lengths[int(0.9 * (len(lengths) - 1))]


def _next_is_table(raw: list[_Raw], i: int) -> bool:
    nxt = next((r for r in raw[i + 1:] if r.text.strip()), None)
    return nxt is not None and bool(_TABLE_ROW.match(nxt.text.strip()))


def _short(text: str) -> bool:
    return len(text.split()) <= 12 and text[-1:] not in ".,;"


def _caps_heading(text: str) -> bool:
    """A short line in capitals ("DAY 1 (treatment day)", "SECTION 3 - CONSENT") is a heading."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 3 or len(text.split()) > 12 or text[-1:] in ".,;":
        return False
    head = [c for c in text.split("(")[0] if c.isalpha()] or letters
    return sum(c.isupper() for c in head) >= 0.8 * len(head)


def _continues(prev: SourceLine, text: str, width: int, after_blank: bool) -> bool:
    """Whether ``text`` continues the line before it (a hard wrap or a page break mid-sentence)."""
    if prev.heading_level is not None or prev.row:
        return False
    if prev.text.endswith("-") and text[:1].islower():
        return True
    ends_sentence = prev.text[-1:] in ".!?:;" or prev.text.endswith(('."', '.”', '?"', '!)', '.)'))
    if ends_sentence:
        return False
    if text[:1].islower():
        return True  # a sentence does not start in lower case: a wrap, or a page break mid-sentence
    if after_blank:
        return False
    return len(prev.text) >= WRAPPED_FRACTION * width


def _joined(prev: SourceLine, text: str, doc_words: set[str]) -> SourceLine:
    if prev.text.endswith("-") and prev.text[-2:-1].isalpha() and text[:1].islower():
        stem = re.split(r"\W", prev.text[:-1])[-1]
        tail = re.split(r"[^\w]", text)[0]
        if dehyphenate(stem.lower(), tail.lower(), doc_words):
            return replace(prev, text=f"{prev.text[:-1]}{text}")
        return replace(prev, text=f"{prev.text}{text}")
    return replace(prev, text=f"{prev.text} {text}")


def _md_inline(text: str) -> str:
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    return " ".join(_MD_EMPHASIS.sub("", text).split())


def _drop_bibliography(lines: list[SourceLine], dropped: list[Dropped]) -> list[SourceLine]:
    """A numbered list whose entries are mostly citations (authors, a year, a journal) is the
    document's reference list: its titles read like claims but are not the clinic's answer."""
    runs, run = [], []
    for k, line in enumerate(lines):
        if line.numbered:
            run.append(k)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    remove = set()
    for run in runs:
        cited = sum(bool(_YEAR.search(lines[k].text)) and lines[k].text.count(".") >= 3 for k in run)
        if len(run) >= 3 and cited >= 0.6 * len(run):
            remove.update(run)
    for k in sorted(remove):
        dropped.append(Dropped(lines[k].number, lines[k].text, "reference list entry (a citation, not the clinic's text)"))
    return [l for k, l in enumerate(lines) if k not in remove]
