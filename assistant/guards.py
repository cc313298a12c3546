"""Checks that run before and around retrieval: invalid input, emergencies, and scope."""

from __future__ import annotations

import re

from .text import STOPWORDS, content_words, has_control_chars, normalize

# Signs of an emergency or a complication. Matched on the normalised, lower-cased question;
# a plain mention of expected effects ("is redness normal?") is not among them.
_URGENT_PATTERNS = [
    r"\bpus\b", r"\booz(e|es|ing)\b", r"\bdischarge\b", r"\binfect(ed|ion)\b",
    r"\bspread(s|ing)? (redness|rash)\b", r"\b(redness|rash|red area)\b[^.?!]{0,30}\bspread",
    r"\bred streaks?\b", r"\bfever\b", r"\bchills\b", r"\btemperature of\b",
    r"\b(trouble|difficulty|hard|struggling|unable|can'?t|cannot|can not) (to )?breath",
    r"\bshort(ness)? of breath\b", r"\bwheez", r"\bbreathless",
    r"\bswell\w*\b[^.?!]{0,40}\b(lips?|throat|tongue|mouth|eyes?)\b",
    r"\b(lips?|throat|tongue|mouth)\b[^.?!]{0,20}\bswell", r"\bthroat\b[^.?!]{0,20}\b(closing|tight)",
    r"\bbleed\w*\b[^.?!]{0,40}\b(won'?t|will not|doesn'?t|does not|not|keeps?|can'?t|cannot) (stop|stopping)",
    r"\b(heavy|severe|uncontrolled|non-?stop) bleeding\b",
    r"\b(won'?t|will not|can'?t|cannot|can not|unable to) stop (the )?bleed", r"\bkeeps? bleeding\b",
    r"\banaphyla", r"\ballergic reaction\b", r"\bhives\b", r"\bchest pain\b", r"\bfaint(ed|ing)?\b",
    r"\bpass(ed)? out\b", r"\bsevere pain\b", r"\b(blurred|losing|lost) (vision|sight)\b",
    r"\bemergency\b",
]
_URGENT = re.compile("|".join(_URGENT_PATTERNS))

# Words that frame a question without saying what it is about ("how long will it take"),
# and generic verbs of effect ("does it fix / stop / reduce X": X is the topic); the scope
# check does not ask the corpus to contain them.
FRAME_WORDS = frozenset(
    """ask asked tell know want need needs get gets getting got go going make makes made take takes
    taking expect expected happen happens happened help helps work works working worth good better
    best bad normal okay ok fine right really actually usually typically generally also still
    much many long soon quickly fast often time times thing things something anything way ways
    see seen look looks looking feel feels mean means say says said like kind sort type types
    possible please thanks thank hi hello hey question questions answer info information explain
    someone people person me myself will would shall could might may must new old one two three
    first next lot lots little bit whether else am doing done gonna wanna kinda cause
    fix fixes stop stops matter matters shrink cure treat remove rid improve reduce affect
    affects change changes later again ever far exactly honestly basically literally definition
    define meaning explain describe overview tips tip advice recommend recommendations friend
    friends keep keeps telling told heard hear read wondering wonder curious guess suppose
    anyone everyone somebody""".split()
)


def validate_question(question: object, max_chars: int) -> str | None:
    """None when the question is usable, else a short message saying what is wrong."""
    if not isinstance(question, str):
        return "The question must be text."
    if not question.strip():
        return "Please type a question."
    if len(question) > max_chars:
        return f"Your question is {len(question)} characters long; please keep it under {max_chars}."
    if has_control_chars(question):
        return "Your question contains control characters; please type it again as plain text."
    return None


def is_urgent(question: str) -> bool:
    return bool(_URGENT.search(normalize(question).lower()))


def focus_terms(question: str) -> list[str]:
    """The words that say what a question is about: not stop words, not question framing."""
    return [w for w in content_words(question) if w not in FRAME_WORDS and w not in STOPWORDS and not w.isdigit()]


def unknown_terms(question: str, knows) -> list[str]:
    """Focus terms the corpus never uses (after spelling correction): it cannot answer about them."""
    return [w for w in focus_terms(question) if not knows(w)]
