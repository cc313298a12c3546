"""HTML pages into structured lines: the page's main content, by the page's own semantics.

A clinic's web page carries menus, cookie banners, footers, related links, testimonials and
stale copies of its own facts (HTML comments, JSON-LD, hidden blocks, struck-through prices).
Main-content libraries were measured on such pages first (docs/benchmarks.md): trafilatura lost
the questions of an accordion FAQ and readability-lxml dropped the whole accordion, so this
module reads what HTML and ARIA themselves say: landmarks (``main``, ``nav``, ``footer``,
``aside``, ``role=dialog``), hidden elements, superseded text (``<s>``, ``<del>``), attributed
quotations, link lists, and table headers. No rule names a word or a class name.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from .structure import Dropped, SourceLine, table_row_text
from ..text import fold_typography, strip_reference_markers

_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "dt", "dd", "blockquote", "figcaption",
           "pre", "address", "summary", "caption")
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_STRUCTURE = list(_BLOCKS) + ["table"]
# Elements that start a new line of text (their own text never runs on into their neighbours').
_CONTAINERS = ("div", "section", "article", "main", "td", "th", "details", "header", "footer", "ul", "ol",
               "dl", "figure", "form", "fieldset", "center", "body", "html")
# Landmarks that are never the page's own content (WAI-ARIA landmark roles and their elements).
_LANDMARK_TAGS = ("nav", "aside")
_LANDMARK_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog"}
# Elements whose text is not page text, or is a control rather than content.
_NOT_TEXT = ("script", "style", "template", "svg", "iframe", "canvas", "object", "embed", "select",
             "input", "textarea", "option", "img", "picture", "video", "audio", "map")
_SUPERSEDED = ("s", "del", "strike")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# A block whose text is nearly all link text is a menu or a list of related pages.
LINK_DENSITY_LIMIT = 0.75
# html5lib walks its stack of open elements at many tags (the "has an element in scope" checks, the
# formatting elements), so a parse costs the page's tags times its depth: <div>s nested 4,000 deep
# took 2.2 s, 8,000 deep 7.5 s, and 100,000 deep held the server for over 9 minutes, while the
# deepest page of the evaluation corpora nests 17 elements. libxml2 (lxml) refuses documents deeper
# than 256 unless told otherwise and Chromium stops nesting at 512; a page past this is refused with
# the limit named as soon as the parse gets there, so the cost stays linear in the page's size.
MAX_DEPTH = 256


class NestedTooDeep(ValueError):
    """The page nests elements deeper than MAX_DEPTH (``line``: where it passed the limit)."""

    def __init__(self, line: int) -> None:
        super().__init__(f"its elements are nested more than {MAX_DEPTH} levels deep (line {line}); a web page "
                         "nests a few dozen: close the tags left open, or save the page's text as .txt")
        self.line = line


def html_lines(html: str) -> tuple[list[SourceLine], list[Dropped]]:
    """The page's main content as structured lines, and what was dropped on the way (and why).

    Raises NestedTooDeep for a page nested deeper than MAX_DEPTH."""
    soup = _parse(fold_typography(html))
    dropped: list[Dropped] = []
    # In this order: the panels a control reveals are noted before the controls go, and hidden
    # or struck text goes before the landmarks, so --explain gives it as hidden wherever it is.
    _drop_non_text(soup, dropped)
    revealed = _drop_controls(soup, dropped)
    _drop_hidden(soup, dropped, revealed)
    _keep_main_content(soup, dropped)
    return _block_lines(soup, dropped), dropped


def _parse(html: str):
    """The page as a tree, built as a browser builds it, or NestedTooDeep as soon as it nests past MAX_DEPTH."""
    from bs4 import BeautifulSoup

    # html5lib builds the tree as a browser does (the HTML5 algorithm): optional end tags such as
    # </p> and </li> are implied, where html.parser would nest each paragraph in the one before.
    return BeautifulSoup(html, builder=_depth_limited_builder()())


@functools.cache
def _depth_limited_builder():
    """Beautiful Soup's html5lib builder, stopping when its stack of open elements (the path from the
    root to where the next element goes) passes MAX_DEPTH; made on first use, so importing is cheap."""
    from bs4.builder._html5lib import HTML5TreeBuilder, TreeBuilderForHtml5lib

    class Tree(TreeBuilderForHtml5lib):
        def insertElementNormal(self, token):
            return self._checked(super().insertElementNormal(token))

        def insertElementTable(self, token):
            return self._checked(super().insertElementTable(token))

        def _checked(self, element):
            if len(self.openElements) > MAX_DEPTH:
                raise NestedTooDeep(self.parser.tokenizer.stream.position()[0] if self.parser else 0)
            return element

    class Builder(HTML5TreeBuilder):
        def create_treebuilder(self, namespaceHTMLElements):
            self.underlying_builder = Tree(namespaceHTMLElements, self.soup, store_line_numbers=self.store_line_numbers)
            return self.underlying_builder

    return Builder


def _drop(dropped: list[Dropped], el, reason: str) -> None:
    """Remove an element (or a string) from the page, reporting its text with the reason."""
    if hasattr(el, "get_text"):
        # A script's text is no page text to get_text (html5lib's tree), but --explain still shows it.
        text = " ".join((el.get_text(" ") or el.string or "").split())
    else:
        text = " ".join(str(el).split())
    if text:
        dropped.append(Dropped(getattr(el, "sourceline", None) or 0, text[:300], reason))
    el.decompose() if hasattr(el, "decompose") else el.extract()


def _drop_non_text(soup, dropped: list[Dropped]) -> None:
    """Comments, declarations, scripts, styles, the head and media: nothing a reader sees as text."""
    from bs4 import Comment, Declaration, Doctype, ProcessingInstruction

    for node in soup.find_all(string=lambda s: isinstance(s, (Comment, Declaration, Doctype, ProcessingInstruction))):
        if isinstance(node, Comment) and node.strip():
            dropped.append(Dropped(0, " ".join(node.split())[:300], "HTML comment (not shown on the page)"))
        node.extract()
    for el in soup.find_all("script"):
        kind = (el.get("type") or "").lower()
        reason = "structured data (JSON-LD), not page text" if "json" in kind else "script"
        _drop(dropped, el, reason)
    for el in soup.find_all(["style", "head"]):
        el.decompose()
    for el in soup.find_all("noscript"):
        _drop(dropped, el, "shown only when JavaScript is off")
    for el in soup.find_all(_NOT_TEXT):
        el.decompose()


def _drop_controls(soup, dropped: list[Dropped]) -> set[str]:
    """Buttons, links that run script and forms; returns the ids of the panels a control opens."""
    revealed = {c for el in soup.find_all(attrs={"aria-controls": True}) for c in el["aria-controls"].split()}
    # Ids looked up in one map, not searched for through the page once a button.
    by_id: dict[str, object] = {}
    for el in soup.find_all(id=True):
        by_id.setdefault(el["id"], el)
    for n, el in enumerate(soup.find_all("button")):
        # A button inside a heading or summary carries the heading's words (accordions); a button
        # that discloses a panel of text is that panel's heading (an FAQ's question); any other
        # button is a control ("Accept all", "Close", a menu toggle).
        if el.find_parent(["h1", "h2", "h3", "h4", "h5", "h6", "summary"]) is not None:
            continue
        panel = _disclosed_panel(soup, el, by_id)
        if panel is not None and el.get_text(strip=True) and not _is_navigation(panel):
            el.name = "h6"
            if not panel.get("id"):
                panel["id"] = f"disclosed-panel-{n}"  # so a panel hidden until opened is kept
            revealed.add(panel["id"])
        else:
            el.decompose()
    for el in soup.find_all("a"):
        # A link to "#" or to script is a control ("Yes | No" votes, "Close"), not text.
        href = (el.get("href") or "").strip().lower()
        if href == "#" or href.startswith("javascript:"):
            el.decompose()
    for el in soup.find_all("form"):
        _drop(dropped, el, "form")
    return revealed


def _disclosed_panel(soup, button, by_id: dict):
    """What a button opens: the element it names (aria-controls), or, for a disclosure button
    (aria-expanded) that names none, the element right after it (the WAI-ARIA disclosure pattern).
    ``by_id``: the page's first element of each id."""
    ids = (button.get("aria-controls") or "").split()
    if ids:
        panel = by_id.get(ids[0])
        if panel is not None and panel.decomposed:  # gone with an earlier button: the next of that id
            panel = by_id[ids[0]] = soup.find(id=ids[0])
        return panel
    return button.find_next_sibling() if button.has_attr("aria-expanded") else None


def _is_landmark(tag) -> bool:
    """Page furniture by its element or ARIA role: navigation, asides, banners, dialogs."""
    return tag.name in _LANDMARK_TAGS or (tag.get("role") or "").lower() in _LANDMARK_ROLES


def _is_navigation(el) -> bool:
    return (_is_landmark(el) or el.find(_is_landmark) is not None
            or _link_share([el]) >= LINK_DENSITY_LIMIT)


def _drop_hidden(soup, dropped: list[Dropped], revealed: set[str]) -> None:
    """Hidden elements no control reveals, and struck-through (superseded) text."""
    for el in soup.find_all(_is_hidden):
        if el.decomposed:
            continue
        # Hidden until a control on the page opens it (an accordion panel) is content;
        # hidden with nothing to reveal it is a stale or duplicate copy.
        if el.get("id") in revealed and el.get("aria-hidden", "").lower() != "true":
            continue
        _drop(dropped, el, "hidden on the page")
    for el in soup.find_all(_SUPERSEDED):
        _drop(dropped, el, "struck-through (superseded) text")


def _keep_main_content(soup, dropped: list[Dropped]) -> None:
    """What lies outside <main>, landmarks, the page's header and footer, attributed quotations."""
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if main is not None:
        # Everything beside the chain of elements that leads to <main> is outside it.
        node = main
        while node.parent is not None:
            for sibling in [c for c in node.parent.children if c is not node]:
                if hasattr(sibling, "decompose"):
                    _drop(dropped, sibling, "outside the page's main content")
                elif sibling.strip():
                    sibling.extract()
            node = node.parent
    for el in soup.find_all(_is_landmark):
        if not el.decomposed:
            _drop(dropped, el, f"page furniture (<{el.name}> landmark)")
    for el in soup.find_all(["header", "footer"]):
        # A page's header and footer (not an article's own) are banner and contentinfo.
        if not el.decomposed and el.find_parent(["article", "section", "blockquote"]) is None:
            _drop(dropped, el, f"page furniture (<{el.name}> landmark)")
    for el in soup.find_all("blockquote"):
        if not el.decomposed and (el.find("cite") or el.find("footer")):
            _drop(dropped, el, "a quotation attributed to someone (a review or testimonial), not the clinic's words")


def _block_lines(soup, dropped: list[Dropped]) -> list[SourceLine]:
    """The remaining text as lines in page order: each leaf block whole, each table row by row, and
    the text a block or container holds beside its nested blocks (a list item's lead-in above its
    sub-list, loose text in a <div>) as lines of their own; link lists are dropped.

    A walk with its own stack rather than recursion: a page nested thousands of levels deep
    (generated or broken markup) is read, not a RecursionError. Which elements hold a block is
    found once for the page, not searched for under each element (that costs the page's size
    times its depth)."""
    holds = _holding(soup, _STRUCTURE)
    lines: list[SourceLine] = []
    # Each frame: an element, its children still to visit, and its own inline content since its
    # last nested block.
    stack = [(soup, iter(list(soup.children)), [])]
    while stack:
        el, children, run = stack[-1]
        child = next(children, None)
        if child is None:
            _flush(el, run, lines, dropped)
            stack.pop()
        elif child.name is None:  # a string
            run.append(child)
        elif child.name == "table":
            _flush(el, run, lines, dropped)
            lines += _table_lines(child)
        elif _is_leaf_block(child, holds):
            _flush(el, run, lines, dropped)
            _emit(child, [child], lines, dropped)
        elif child.name in _BLOCKS or child.name in _CONTAINERS or id(child) in holds:
            _flush(el, run, lines, dropped)
            stack.append((child, iter(list(child.children)), []))
        else:
            run.append(child)  # inline: a link, emphasis, a <span>
    return lines


def _flush(el, run: list, lines: list[SourceLine], dropped: list[Dropped]) -> None:
    if run:
        _emit(el, list(run), lines, dropped)
        run.clear()


def _emit(el, nodes: list, lines: list[SourceLine], dropped: list[Dropped]) -> None:
    """One line from ``nodes`` (a leaf block, or a run of el's inline content), typed by el."""
    text = " ".join(" ".join(n.get_text(" ") if n.name else str(n) for n in nodes).split())
    text = _strip_ornaments(strip_reference_markers(text))
    if not text:
        return
    if _link_share(nodes) >= LINK_DENSITY_LIMIT:
        dropped.append(Dropped(el.sourceline or 0, text, "link list (navigation), not page text"))
        return
    lines.append(_block_line(el, text))


def _block_line(el, text: str) -> SourceLine:
    """A block as a line: headings (a summary, a term or a caption heads what follows), list items, text."""
    number = el.sourceline or 0
    if el.name in ("h1", "h2", "h3", "h4", "h5", "h6"):
        return SourceLine(number, text, heading_level=int(el.name[1]))
    if el.name in ("summary", "dt", "caption"):
        return SourceLine(number, text, heading_level=6)
    if el.name == "li":
        lists = el.find_parents(["ul", "ol"])
        # A stray <li> with no list around it (browsers render it as a bullet) is a top-level bullet.
        numbered = bool(lists) and lists[0].name == "ol"
        return SourceLine(number, text, bullet_depth=max(0, len(lists) - 1), numbered=numbered)
    return SourceLine(number, text)


def _is_hidden(tag) -> bool:
    return (tag.has_attr("hidden") or (tag.get("aria-hidden") or "").lower() == "true"
            or bool(_HIDDEN_STYLE.search(tag.get("style") or "")))


def _strip_ornaments(text: str) -> str:
    """Without the ornaments at its ends: tokens made only of symbol characters (Unicode category
    So: "▾" on an FAQ toggle, "✦" before a list item, an emoji before a heading)."""
    tokens = text.split()
    while tokens and all(unicodedata.category(c) in ("So", "Mn", "Cf") for c in tokens[0]):
        tokens.pop(0)
    while tokens and all(unicodedata.category(c) in ("So", "Mn", "Cf") for c in tokens[-1]):
        tokens.pop()
    return " ".join(tokens)


def _link_share(nodes: list) -> float:
    """The share of the nodes' text that is link text."""
    text = len(" ".join(" ".join(n.get_text(" ") if n.name else str(n) for n in nodes).split()))
    linked = sum(len(" ".join(a.get_text(" ").split())) for n in nodes if n.name
                 for a in ([n] if n.name == "a" else n.find_all("a")))
    return linked / text if text else 0.0


def _is_leaf_block(el, holds: set[int]) -> bool:
    """A text block with no block or table inside it (a summary holding no heading is one whole).
    ``holds``: the ids of the elements that hold a block or table (``_holding``)."""
    if el.name not in _BLOCKS:
        return False
    if el.name == "summary":
        return el.find(_HEADINGS) is None
    return id(el) not in holds


def _holding(soup, names) -> set[int]:
    """The ids of the elements with one of ``names`` somewhere inside them, in one pass: each
    element is marked once, from the nearest such descendant up to an ancestor already marked."""
    held: set[int] = set()
    for el in soup.find_all(names):
        parent = el.parent
        while parent is not None and id(parent) not in held:
            held.add(id(parent))
            parent = parent.parent
    return held


def _table_lines(table) -> list[SourceLine]:
    """Each row as one line, each cell named by its column header; the caption as a heading."""
    out = []
    caption = table.find("caption")
    if caption is not None and caption.get_text(strip=True):
        out.append(SourceLine(caption.sourceline or 0, " ".join(caption.get_text(" ").split()), heading_level=6))
    rows = [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]
    header = None
    for position, tr in enumerate(rows):
        cells = tr.find_all(["td", "th"], recursive=False)
        texts = [strip_reference_markers(" ".join(c.get_text(" ").split())) for c in cells]
        if not any(texts):
            continue
        if position == 0 and len(cells) > 1 and all(c.name == "th" for c in cells):
            header = texts  # a first row of header cells names the columns
            continue
        out.append(SourceLine(tr.sourceline or 0, table_row_text(header, texts), row=True))
    return out
