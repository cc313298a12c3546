"""The read-only document page (/documents/SOURCE): a document as the assistant reads it, with the
passage a citation quotes marked and scrolled to.

A document is named by its source id (its name in corpus/, as every citation carries it), never by
a path on the server, and the page is built from the serving index alone: it shows exactly the
passages the assistant can quote, in the document's order under its headings, and no file is
opened for a visitor. A public document is open to everyone; a staff-only one (by its passages'
audience in the index, or by its sources.toml entry as it is now, so "Make staff-only" closes the
page before the re-index is done) only to a signed-in account. To anyone else it is the same 404 as
a document that does not exist, so not even its name leaks.

The quote comes in the link (``?quote=``): the page marks the sentence it names with <mark id="quote">
and its lead-in or heading too, and the link's ``#quote`` scrolls the browser to it, without script.
"""

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote as url_quote, urlencode

from ..ingest.cleaning import CONTEXT_JOINER, SECTION_SEPARATOR
from ..ingest.loading import PUBLIC, STAFF
from ..ingest.structure import row_cells

HERE = Path(__file__).resolve().parent
DOCUMENT_PATH = "documents/"
QUOTE_ID = "quote"
# A link carries at most this much of its quote (a URL stays short); the page then matches a passage
# by its start. The longest unit of the evaluation corpora is under 1,000 characters, and 500
# characters of any of them name one passage only.
LINK_QUOTE_CHARS = 500
# A shorter start than this could name more than one passage: it must match whole.
MIN_PREFIX_CHARS = 40
SIGNED_IN_ROLES = ("staff", "admin")


def document_href(source: str, quote: str = "") -> str:
    """The document's page, relative to the site's root ("documents/NAME?quote=…#quote"), at the
    passage ``quote`` when one is given."""
    href = DOCUMENT_PATH + url_quote(source, safe="/")
    if quote:
        href += "?" + urlencode({"quote": quote[:LINK_QUOTE_CHARS]}) + "#" + QUOTE_ID
    return href


@dataclass(frozen=True)
class UnitRow:
    """A quotable unit of the document, as the index holds it."""

    id: str
    chunk_id: str
    line: int
    position: int
    text: str
    context: str = ""

    @property
    def quote(self) -> str:
        return f"{self.context}{CONTEXT_JOINER}{self.text}" if self.context else self.text


@dataclass(frozen=True)
class Span:
    text: str
    unit: str = ""  # the unit it belongs to ("" for a heading or lead-in line)
    mark: bool = False
    anchor: bool = False  # the fragment's target: the first span of the quoted passage


@dataclass(frozen=True)
class Block:
    kind: str  # "heading", "lead" (a lead-in or label above what it introduces), "text" or "row"
    spans: tuple[Span, ...]
    level: int = 0  # a heading's, 2 to 6 (the page's title is the h1)


@dataclass(frozen=True)
class DocumentView:
    source: str
    title: str
    staff: bool  # staff-only: signed-in accounts only
    blocks: tuple[Block, ...]
    found: bool  # whether the quote asked for was found (True when none was asked for)


def document_blocks(title: str, units: list[UnitRow], sections: dict[str, str]) -> list[Block]:
    """The document's passages in order, under their headings (``sections``: each chunk's section
    path). A lead-in or label is shown above what it introduces, once for a run of units under it,
    and not when it is the heading just shown or the end of the paragraph just before (a list's
    lead-in sentence); sentences of one source line make one paragraph; a table row shows its
    cells a line each."""
    blocks: list[Block] = []
    shown: list[str] = []  # the headings in force
    context_shown, paragraph = "", None
    for unit in sorted(units, key=lambda u: (u.line, u.position)):
        section = sections.get(unit.chunk_id, title)
        headings = [] if section == title else section.split(SECTION_SEPARATOR)
        common = 0
        while common < min(len(headings), len(shown)) and headings[common] == shown[common]:
            common += 1
        if common < len(headings):
            blocks += [Block("heading", (Span(h),), min(2 + depth, 6)) for depth, h in enumerate(headings)
                       if depth >= common]
            context_shown, paragraph = "", None
        shown = headings
        context = unit.context
        if context and context != context_shown and context != (headings[-1] if headings else title) \
                and not _ends_paragraph(blocks, context):
            blocks.append(Block("lead", (Span(context),)))
            paragraph = None
        context_shown = context
        cells = row_cells(unit.text)
        key = (unit.chunk_id, unit.line)
        if len(cells) > 1:
            blocks.append(Block("row", tuple(Span(c, unit.id) for c in cells)))
            paragraph = None
        elif key == paragraph and blocks and blocks[-1].kind == "text":
            blocks[-1] = replace(blocks[-1], spans=blocks[-1].spans + (Span(" "), Span(unit.text, unit.id)))
        else:
            blocks.append(Block("text", (Span(unit.text, unit.id),)))
            paragraph = key
    return blocks


def _ends_paragraph(blocks: list[Block], context: str) -> bool:
    return bool(blocks) and blocks[-1].kind == "text" and blocks[-1].spans[-1].text.endswith(context)


def find_unit(units: list[UnitRow], quote: str) -> UnitRow | None:
    """The unit a link's quote names: its whole quote (with its context), its own words, or, for
    a link that carries only the start of a long quote, the one unit that starts so."""
    wanted = " ".join(quote.split())
    if not wanted:
        return None

    def flat(text: str) -> str:
        return " ".join(text.split())

    for pick in (lambda u: flat(u.quote) == wanted, lambda u: flat(u.text) == wanted):
        found = [u for u in units if pick(u)]
        if found:
            return found[0]
    if len(wanted) >= MIN_PREFIX_CHARS:
        found = [u for u in units if flat(u.quote).startswith(wanted) or flat(u.text).startswith(wanted)]
        if len(found) == 1:
            return found[0]
    return None


def mark_quote(blocks: list[Block], unit: UnitRow) -> list[Block]:
    """The blocks with the unit's words marked (the first of them the fragment's target) and its
    context marked where it is shown nearest above: a heading, a lead-in line, or the end of the
    paragraph before a list."""
    out = list(blocks)
    first = None
    for at, block in enumerate(out):
        if any(s.unit == unit.id for s in block.spans):
            spans = []
            for span in block.spans:
                if span.unit == unit.id:
                    spans.append(replace(span, mark=True, anchor=first is None))
                    first = at if first is None else first
                else:
                    spans.append(span)
            out[at] = replace(block, spans=tuple(spans))
    if first is None or not unit.context:
        return out
    for at in range(first, -1, -1):
        block = out[at]
        last = block.spans[-1]
        if block.kind in ("heading", "lead") and last.text == unit.context:
            out[at] = replace(block, spans=block.spans[:-1] + (replace(last, mark=True),))
            return out
        if at < first and block.kind == "text" and last.text.endswith(unit.context) and not last.mark:
            cut = len(last.text) - len(unit.context)
            out[at] = replace(block, spans=block.spans[:-1] + (
                replace(last, text=last.text[:cut]), replace(last, text=unit.context, mark=True)))
            return out
    return out


def document_view(snapshot, source: str, corpus_dir: Path, quote: str = "", for_staff: bool = False) -> DocumentView | None:
    """The document ``source`` of the serving index, with ``quote`` marked; None when the index
    holds no such document. Parts the document marks as not to be used (staff-only passages of a
    public document) are shown only ``for_staff``."""
    chunks = {cid: m for cid, m in snapshot.meta.items() if m.get("source") == source
              and (for_staff or not m.get("withheld"))}
    if not chunks:
        return None
    title = next(iter(chunks.values())).get("title") or source
    staff = (any(m.get("audience") == STAFF and not m.get("withheld") for m in chunks.values())
             or _staff_now(corpus_dir, source))
    got = snapshot.units.get(where={"chunk_id": {"$in": list(chunks)}}, include=["documents", "metadatas"])
    units = [UnitRow(uid, m["chunk_id"], int(m.get("line") or 0), int(m.get("position") or 0), doc,
                     m.get("context") or "")
             for uid, doc, m in zip(got["ids"], got["documents"], got["metadatas"])]
    blocks = document_blocks(title, units, {cid: m.get("section", title) for cid, m in chunks.items()})
    found = True
    if quote:
        unit = find_unit(units, quote)
        found = unit is not None
        if unit is not None:
            blocks = mark_quote(blocks, unit)
    return DocumentView(source, title, staff, tuple(blocks), found)


def _staff_now(corpus_dir: Path, source: str) -> bool:
    """Whether sources.toml says now that the document is not public (an unreadable file: assume so)."""
    from ..errors import CorpusError
    from ..ingest.loading import read_metadata

    try:
        entry = read_metadata(corpus_dir).get(source) or {}
    except CorpusError:
        return True
    return entry.get("audience", PUBLIC) != PUBLIC


def signed_in(scope, users) -> bool:
    """Whether the request comes from a signed-in staff or admin account (the console's session)."""
    name = (scope.get("session") or {}).get("user")
    user = users.get(name) if isinstance(name, str) and name else None
    return user is not None and user.role in SIGNED_IN_ROLES


def install_reading(app, assistant, users, settings) -> None:
    """GET /documents/{source}: the document's page, or 404 (unknown, or staff-only and not signed in)."""
    from fastapi import Request
    from fastapi.templating import Jinja2Templates

    from ..errors import IndexNotReadyError

    templates = Jinja2Templates(directory=str(HERE / "templates"))

    @app.get("/documents/{source:path}", include_in_schema=False)
    def document(request: Request, source: str, quote: str = ""):
        try:
            snapshot = assistant.reader.current()
        except IndexNotReadyError:
            snapshot = None
        staff = signed_in(request.scope, users)
        view = document_view(snapshot, source, settings.corpus_dir, quote[:2000], staff) if snapshot else None
        home = "../" * (1 + source.count("/"))  # the chat page, relative (a proxy may serve the app under a prefix)
        if view is None or (view.staff and not staff):
            response = templates.TemplateResponse(request, "reading.html", {"view": None, "home": home,
                                                                            "title": "No such document"},
                                                  status_code=404)
        else:
            response = templates.TemplateResponse(request, "reading.html", {
                "view": view, "home": home, "title": view.title, "quote": bool(quote), "staff": STAFF})
        # A staff document must not stay in a shared browser's cache; a public one changes with each ingest.
        response.headers["cache-control"] = "no-store"
        return response
