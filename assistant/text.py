"""Pure text helpers shared by cleaning, chunking, retrieval and answering."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN

# Splits after . ! ? (and a closing quote) when the next sentence starts with a
# capital, a digit or an opening quote; a split right after a common
# abbreviation is skipped so "Dr. Lee" stays one sentence.
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "Dr.", "Mr.", "Mrs.", "Ms.", "vs.", "approx.", "St.")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?(?=\s+[\"“(]?[A-Z0-9])")
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Lucene's English stop words, as bm25s ships them: the few words too common to say what a
# passage is about. How much any other word says is weighed by its frequency (``information``).
STOPWORDS = frozenset(STOPWORDS_EN) | {"s", "t"}


def normalize(text: str) -> str:
    """NFC-normalise and fold typographic quotes, so matching is not fooled by them."""
    text = unicodedata.normalize("NFC", text)
    return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


_TAG = re.compile(r"<[^<>]{0,200}>")
_CODE_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def strip_markup(text: str) -> str:
    """Text without HTML-like tags (and script/style bodies) or contact details: they are
    not what is asked."""
    return redact_contacts(_TAG.sub(" ", _CODE_BLOCK.sub(" ", text)), email=" ", phone=" ")


# A match may only start where a run of address characters starts: otherwise a long run without
# "@" is scanned again from each of its characters (quadratic; 48,000 letters took 4 s).
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Seven or more digits, allowing spaces, dots, dashes, brackets and a leading +, as phone
# numbers are written; shorter numbers ("3 sessions", "2026") stay.
_PHONE = re.compile(r"(?<!\w)\+?\(?\d[\d\s().-]{5,}\d(?!\w)")


# Identity details a patient may type, each matched at a word start with bounded repetition (linear
# time): a name after a self-introduction; a full date with its year (a birth date: "in March" stays);
# a street address (house number, up to three words, a street type); a UK postcode; a document number
# (a token of letters and at least four digits, as passport, licence and policy numbers are written).
_SELF_NAME = re.compile(
    r"(?P<lead>(?i:\b(?:my name is|my name's|i am called|i'm called)\s+))"
    r"(?:[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*){0,2}|[\w'’-]+)")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]{0,6}\.?"
_DATE = re.compile(
    r"(?<![\w/.-])(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{1,2}-\d{1,2})(?![\w/-])"
    rf"|(?i:\b\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTH},?\s+\d{{4}}\b)"
    rf"|(?i:\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b)")
_ADDRESS = re.compile(
    r"(?i:\b\d{1,5}[a-z]?,?(?:\s+[a-z][\w'’.-]*){1,3}\s+"
    r"(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|court|ct|boulevard|blvd|way|place|pl|terrace|"
    r"crescent|close|square|sq|parkway|highway|hwy|circle|row|mews|grove|gardens|hill)\b\.?)")
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b")
_DOCUMENT_NUMBER = re.compile(r"\b(?=[A-Za-z]*\d)(?=(?:[A-Za-z]*\d){4})(?=[0-9]*[A-Za-z])[A-Za-z0-9]{5,20}\b")


def redact(text: str) -> str:
    """The text with personal data replaced by placeholders, before it is stored: what the
    details of a fixed form (``redact_patterns``), then what the personal-data recogniser finds in
    the rest (pii.py: names, places, e-mail addresses and phone numbers also written out in words,
    social handles, health conditions)."""
    from .pii import redact_personal_data  # loads the recogniser on first use, never at import

    return redact_personal_data(redact_patterns(text))


def redact_patterns(text: str) -> str:
    """Contact and identity details that have a fixed form, replaced by placeholders: e-mail
    addresses, a name the writer gives as theirs, full dates, street addresses, postcodes,
    document numbers and phone numbers."""
    text = _SELF_NAME.sub(r"\g<lead>[name]", _EMAIL.sub("[email]", text))
    text = _ADDRESS.sub("[address]", _DATE.sub("[date]", text))
    text = _DOCUMENT_NUMBER.sub("[number]", _POSTCODE.sub("[postcode]", text))
    return redact_contacts(text)


def redact_contacts(text: str, email: str = "[email]", phone: str = "[phone]") -> str:
    """Only e-mail addresses and phone numbers replaced: what a question is cleaned of before it is
    searched for (identity placeholders would become words of the query)."""
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
    # A piece with no letter or digit ("!!", "*") is punctuation that opens the next sentence.
    merged: list[str] = []
    for piece in pieces:
        if merged and not any(c.isalnum() for c in merged[-1]):
            merged[-1] = text[text.find(merged[-1]):text.find(piece) + len(piece)]
        elif piece:
            merged.append(piece)
    return merged


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, inner apostrophes)."""
    return _WORD.findall(normalize(text).lower())


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: the Snowball English (Porter 2) stemmer

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    """The Snowball stem of a lower-case word: scar/scars/scarring, treat/treatments."""
    return _stemmer().stemWord(word)


@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    """How common a word is in English (wordfreq's Zipf scale: 7 for "the", 0 for a non-word)."""
    from .word_frequency import zipf_frequency  # wordfreq's figures, a tenth of its memory

    return zipf_frequency(word)


def is_word(word: str) -> bool:
    """Whether English uses this word at all (a misspelling is not one)."""
    return zipf(word) > 0


# Zipf scale of the commonest English words ("the" 7.7); a word's information is how far
# below that it lies, so "the" says nothing and "isotretinoin" (1.8) says a lot.
_ZIPF_CEILING = 7.0


def information(word: str) -> float:
    """How much a word says about what a text is about, from its English frequency; a word
    English does not know (a name, a misspelling) counts as rare."""
    z = zipf(word)
    return _ZIPF_CEILING if z == 0 else max(0.0, _ZIPF_CEILING - z)


def dehyphenate(head: str, tail: str, doc_words: set[str]) -> bool:
    """Whether "head-" at a line end and "tail" on the next line are one word split by the wrap
    ("micro-" "needling") rather than a hyphenated compound ("self-" "care")."""
    joined = head + tail
    if joined in doc_words:
        return True
    # wordfreq scores a hyphenated form by its parts; within one Zipf point, the wrap split it.
    return is_word(joined) and zipf(joined) >= zipf(f"{head}-{tail}") - 1.0


_LIGATURES = {chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}


def fold_typography(text: str) -> str:
    """Ligatures unfolded (ﬁ -> fi), odd spaces made plain, and invisible format characters
    (soft hyphens, zero-width spaces) removed: typesetting, not words. Line and page breaks stay."""
    out = []
    for ch in text:
        if ch in _LIGATURES:
            out.append(_LIGATURES[ch])
        elif ch in "\n\f\t":
            out.append(ch)
        elif unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif unicodedata.category(ch) == "Cf":
            continue
        else:
            out.append(ch)
    return "".join(out)


# Reference markers inside sentences: "[3]", "[3][4]", "[2, 5-7]", "^4", and author-year
# citations "(Brennan & Osei, 2017)", "(Halvorsen et al., 2018; Lee 2020)". They point into a
# bibliography, which is not indexed, and would collide with the answer's own [n] markers.
_NUMERIC_MARKER = re.compile(r"(\s*\[\d{1,3}(?:\s*[,–-]\s*\d{1,3})*\])+|\^\d{1,3}\b")
_AUTHOR_YEAR = re.compile(
    r"\s*\((?:see |e\.g\. )?[A-Z][\w'’-]+(?:(?:,| &| and) [A-Z][\w'’-]+)*(?: et al\.?)?,? (?:19|20)\d\d[a-z]?"
    r"(?:; ?[A-Z][\w'’-]+(?:(?:,| &| and) [A-Z][\w'’-]+)*(?: et al\.?)?,? (?:19|20)\d\d[a-z]?)*\)"
)


def strip_reference_markers(text: str) -> str:
    stripped = _AUTHOR_YEAR.sub("", _NUMERIC_MARKER.sub("", text))
    if stripped == text:
        return text.strip()
    return re.sub(r"\s+([.,;:!?])(?=\s|$)", r"\1", stripped).strip()  # "skin [1]." -> "skin."


def jaccard(a: str, b: str) -> float:
    """Word-set overlap of two texts, 0..1."""
    sa, sb = set(words(a)), set(words(b))
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)
