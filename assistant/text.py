"""Pure text helpers shared by cleaning, chunking, retrieval and answering."""

from __future__ import annotations

import re
import unicodedata

# Splits after . ! ? (and a closing quote) when the next sentence starts with a
# capital, a digit or an opening quote; a split right after a common
# abbreviation is skipped so "Dr. Lee" stays one sentence.
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "Dr.", "Mr.", "Mrs.", "Ms.", "vs.", "approx.", "St.")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?(?=\s+[\"“(]?[A-Z0-9])")
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

STOPWORDS = frozenset(
    """a about above again against all also am an and any are aren't as at be because been
    being below between both but by can can't cannot could couldn't did didn't do does doesn't
    doing don't down each few for from further had hadn't has hasn't have haven't having he
    her here hers herself him himself his how i if in into is isn't it it's its itself just let's me
    more most much my myself no nor not now of off on once only or other ought our ours ourselves
    out over own same she should shouldn't so some such than that that's the their theirs them
    themselves then there there's these they this those through to too under until up very was
    wasn't we were weren't what what's when where which while who whom why will with won't would
    wouldn't you your yours yourself yourselves i'm i've i'd i'll you're you've it'll im ive dont
    doesnt cant whats hows""".split()
)


def normalize(text: str) -> str:
    """NFC-normalise and fold typographic quotes, so matching is not fooled by them."""
    text = unicodedata.normalize("NFC", text)
    return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


_TAG = re.compile(r"<[^<>]{0,200}>")
_CODE_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def strip_markup(text: str) -> str:
    """Text without HTML-like tags (and script/style bodies) or contact details: they are
    not what is asked."""
    return redact(_TAG.sub(" ", _CODE_BLOCK.sub(" ", text)), email=" ", phone=" ")


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Seven or more digits, allowing spaces, dots, dashes, brackets and a leading +, as phone
# numbers are written; shorter numbers ("3 sessions", "2026") stay.
_PHONE = re.compile(r"(?<!\w)\+?\(?\d[\d\s().-]{5,}\d(?!\w)")


def redact(text: str, email: str = "[email]", phone: str = "[phone]") -> str:
    """The text with e-mail addresses and phone numbers replaced by placeholders."""
    text = _EMAIL.sub(email, text)
    return _PHONE.sub(lambda m: phone if sum(c.isdigit() for c in m.group(0)) >= 7 else m.group(0), text)


def has_control_chars(text: str) -> bool:
    return bool(_CONTROL.search(text))


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences; each piece is a verbatim substring of ``text``."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start:match.start()]
        if before.endswith(_ABBREVIATIONS):
            continue
        pieces.append(text[start:match.end()].strip())
        start = match.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, inner apostrophes)."""
    return _WORD.findall(normalize(text).lower())


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def stem(word: str) -> str:
    """A tiny suffix stripper: enough to match scar/scars/scarring, treat/treatments."""
    for suffix in ("ational", "ments", "ment", "ings", "ing", "ies", "ied", "ness", "ity",
                   "ions", "ion", "ers", "er", "ed", "es", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                word += "y"
            break
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "ls":
        word = word[:-1]  # scarr(ing) -> scar
    return word


def jaccard(a: str, b: str) -> float:
    """Word-set overlap of two texts, 0..1."""
    sa, sb = set(words(a)), set(words(b))
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)
