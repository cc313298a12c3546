"""Questions as patients type them: general transformations of a well-formed question.

The open QA sets ask in full, punctuated sentences ("What are the symptoms of glaucoma ?");
patients type in lower case, without the question mark, with typos, text-speak and a chatty
opener. Each transformation is a general property of typed text, applied at random with a
seeded generator, so the model learns to read through them; none is a string taken from our
evaluation corpora.
"""

from __future__ import annotations

import random
import re

# A few ways any chat message opens or closes, whatever its subject.
OPENERS = ("hi, ", "hello, ", "hey ", "quick question, ", "hi there - ", "sorry if this is silly but ",
           "i was wondering ", "can you tell me ", "so ", "um ")
CLOSERS = (" thanks", " thank you!", " pls", " ??", "?? thx", " lol")
# Text-speak: the common short forms of a handful of function words.
SHORT_FORMS = {"you": "u", "your": "ur", "are": "r", "please": "pls", "because": "bc", "about": "abt"}
# Keys next to each other on a QWERTY keyboard, for slips of the finger.
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
NEIGHBOURS = {c: "".join(r[j] for j in (i - 1, i + 1) if 0 <= j < len(r)) for r in _ROWS for i, c in enumerate(r)}
_WORD = re.compile(r"[A-Za-z]{5,}")


def typo(word: str, rng: random.Random) -> str:
    """One slip in a word: two letters swapped, one dropped, one doubled, or a neighbouring key."""
    i = rng.randrange(1, len(word) - 1)  # the first letter is rarely the one mistyped
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    near = NEIGHBOURS.get(word[i].lower())
    return word[:i] + rng.choice(near) + word[i + 1:] if near else word


def as_patient_types(question: str, rng: random.Random, strength: float = 1.0) -> str:
    """The question with some of the ways people type it; ``strength`` scales every chance
    (0 leaves it unchanged)."""
    q = " ".join(question.split())
    q = re.sub(r"\s+([?.!,])", r"\1", q)  # "glaucoma ?" as typed: "glaucoma?"
    if rng.random() < 0.5 * strength:
        q = q.lower()
    if rng.random() < 0.5 * strength:
        q = q.rstrip("?.! ")
    if rng.random() < 0.15 * strength:
        q = " ".join(SHORT_FORMS.get(w.lower(), w) if rng.random() < 0.7 else w for w in q.split())
    if rng.random() < 0.3 * strength:
        found = list(_WORD.finditer(q))
        for match in rng.sample(found, min(len(found), rng.choice((1, 1, 2)))):
            start, end = match.span()
            q = q[:start] + typo(q[start:end], rng) + q[end:]  # same length unless a letter was dropped or doubled
            break  # later spans may have moved: one slip per pass is plenty
    if rng.random() < 0.15 * strength:
        q = rng.choice(OPENERS) + (q[:1].lower() + q[1:] if q[:2] != "I " else q)
    if rng.random() < 0.1 * strength:
        q = q + rng.choice(CLOSERS)
    return q
