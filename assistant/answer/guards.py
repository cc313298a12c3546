"""Checks that run before retrieval: invalid input, crisis language and emergencies."""

from __future__ import annotations

import functools
import json
import logging
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..classifier import SentenceClassifier
from ..embeddings import Embedder
from ..errors import ConfigError
from ..text import STOPWORDS, fold_typography, has_control_chars, information, strip_markup

log = logging.getLogger(__name__)

CALIBRATION_PATH = Path(__file__).resolve().parent / "calibration.json"
# The guards' second readings: how patients say a crisis or a warning sign in their own words,
# learned (training/guards.py; models/safety/MODEL_CARD.md).
_MODELS = Path(__file__).resolve().parents[2] / "models" / "safety"
LEARNED_CRISIS = _MODELS / "crisis.npz"
LEARNED_WARNING = _MODELS / "warning-signs.npz"

# The warning signs after skin needling that call for help now: the ones the safety message
# names, as aftercare sheets list them. This is the one word list the domain fixes (a clinic's
# emergencies do not change with its documents); the model matches how people describe them
# ("getting hard to breathe", "wont stop bleeding", "yellow gunk oozing").
URGENT_SIGNS = (
    "trouble breathing", "swelling of the lips", "swelling of the tongue", "swelling of the throat",
    "tightness in the throat", "bleeding that will not stop", "a fever", "chills", "spreading redness",
    "red streaks", "pus", "oozing", "hives",
)
# A real word this many Zipf points (a factor of 100) rarer than a sign word it is one slip from
# is read as the sign word: "fevre" (1.65) as "fever" (4.22), never "fiver" (2.71).
SIGN_TYPO_ZIPF_MARGIN = 2.0
# Warning signs of suicide and self-harm as crisis lines publish them (the 988 Lifeline's list:
# talking about wanting to die or to kill oneself, looking for a way to, feeling hopeless or
# having no reason to live, feeling trapped or in unbearable pain, being a burden to others;
# and self-harm), put in the first person as a message would; the pain is said to be life's, since
# "unbearable pain" alone drew real patients' questions about physical pain (docs/relevance.md).
# The second list the domain fixes: it does not change with a clinic's documents.
CRISIS_SIGNS = (
    "I want to die", "I want to kill myself", "I am looking for a way to kill myself",
    "I feel hopeless and have no reason to live", "I feel trapped, my life is unbearable",
    "I am a burden to everyone", "I want to hurt myself", "I have been cutting myself",
)


@dataclass(frozen=True)
class Problem:
    """Why a question cannot be used: ``kind`` for code to act on, ``message`` for the person."""

    kind: str  # not_text | empty | too_long | control_chars
    message: str


def validate_question(question: object, max_chars: int) -> Problem | None:
    """None when the question is usable, else what is wrong with it."""
    if not isinstance(question, str):
        return Problem("not_text", "The question must be text.")
    if not question.strip():
        return Problem("empty", "Please type a question.")
    if not is_text(question):
        return Problem("not_text", "Your question contains characters that are not text; please type it again.")
    if len(question) > max_chars:
        return Problem("too_long", f"Your question is {len(question)} characters long; please keep it under {max_chars}.")
    if not strip_markup(question).strip():
        return Problem("empty", "Please type a question.")  # nothing but markup
    if has_control_chars(question):
        return Problem("control_chars", "Your question contains control characters; please type it again as plain text.")
    return None


def is_text(value: str) -> bool:
    """Whether a string is real text: a lone surrogate ("\\ud800", from a broken client) is not,
    and no encoder or tokenizer can take it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class UrgentModel:
    """The score at which a message describes an emergency sign."""

    threshold: float
    fitted_on: str = ""

    @classmethod
    def load(cls, path: Path = CALIBRATION_PATH, section: str = "urgent") -> "UrgentModel":
        """The threshold of ``section``: "urgent" (warning signs) or "crisis" (crisis language)."""
        data = read_calibration(path).get(section, {})
        try:
            model = cls(float(data["threshold"]), str(data.get("fitted_on", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path} has no usable {section} threshold ({exc}): restore it from git or run "
                              "`python -m evals.calibrate --write`.") from None
        return model


def read_calibration(path: Path = CALIBRATION_PATH) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"calibration file {path} cannot be read ({exc}): restore it from git or run "
                          "`python -m evals.calibrate --write`.") from None


def write_calibration(section: str, values: dict, path: Path = CALIBRATION_PATH) -> None:
    data = read_calibration(path) if Path(path).exists() else {}
    data[section] = values
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def safety_text(text: str) -> str:
    """Text as a reader sees it: full-width and compatibility letters folded (NFKC), invisible
    format characters (zero-width spaces, soft hyphens) removed, and every other non-ASCII letter
    read as the Latin letter it looks like, so none of them can hide a sign: other scripts'
    look-alikes (a Cyrillic "е" in "fеver", a Greek "ε"), small capitals ("ᴘᴜs") and IPA letters
    ("feveʀ", "fɛver")."""
    text = unicodedata.normalize("NFKC", fold_typography(text))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    if text.isascii():
        return text
    return "".join(ch if ch.isascii() else _looks_like(ch) for ch in text)


@functools.lru_cache(maxsize=256)
def sentence_parts(message: str) -> tuple[str, ...]:
    """The message as the guards read it (``safety_text``), and each of its sentences when it has
    several: in "does it help acne scars? i hate my face so much i want to hurt myself" the
    question's words outweigh the crisis in the whole message's sentence vector, not in its own
    sentence's. () for a message with nothing to read. Cached: both guards and both readings of
    each ask for the same message's parts."""
    text = safety_text(message)
    if not text.strip():
        return ()
    # Wikimedia's segmenter: unlike the documents' splitter it needs no capital letter after
    # the full stop, as patients often type none.
    from sentencex import segment

    sentences = [s.strip() for s in segment("en", text) if s.strip()]
    return (text, *sentences) if len(sentences) > 1 else (text,)


@functools.lru_cache(maxsize=4096)
def _looks_like(ch: str) -> str:
    """The ASCII a non-ASCII character looks like: decancer's table of confusables (Unicode
    TR39's and the styled and small-capital letters), else for a letter the base letter its
    Unicode name gives ("LATIN SMALL LETTER REVERSED E" is an e), else the character itself."""
    if not unicodedata.category(ch).startswith("L"):
        return ch  # symbols and emoji stay: decancer reads some as letters ("😊" as "o")
    import decancer_py

    cured = str(decancer_py.parse(ch))
    if cured.isascii() and cured.isalpha():
        return cured
    last = unicodedata.name(ch, "").rsplit(" ", 1)[-1]
    if len(last) == 1 and last.isascii() and last.isalpha():
        return last.lower()
    base = unicodedata.normalize("NFKD", ch)[0]
    return base if base.isascii() else ch


class _TwoReadings:
    """A guard's two readings of a message: its sign list's score against ``model.threshold``,
    and the ``learned`` one (when there is one) against its own threshold."""

    embedder: Embedder
    model: UrgentModel
    learned: SentenceClassifier | None

    def score(self, message: str) -> float:
        raise NotImplementedError

    def learned_score(self, message: str) -> float:
        """The learned reading's score (its threshold is ``self.learned.threshold``); -inf without one.
        The highest of the message's and of each of its sentences' (``sentence_parts``)."""
        # The message as both guards read it; its vectors are the ones the crisis guard computed (cached).
        parts = sentence_parts(message)
        if self.learned is None or not parts:
            return float("-inf")
        vectors = np.stack([self.embedder.embed_query(part) for part in parts])
        return float(self.learned.score_vectors(vectors).max())

    def by_signs(self, message: str) -> bool:
        return self.score(message) >= self.model.threshold

    def by_learning(self, message: str) -> bool:
        return self.learned is not None and self.learned_score(message) >= self.learned.threshold

    def __call__(self, message: str) -> bool:
        return self.by_signs(message) or self.by_learning(message)


class UrgentDetector(_TwoReadings):
    """Scores how fully a message describes one of the URGENT_SIGNS.

    Each sign's content words must all be present in the message: every sign word is matched to
    its most similar word of the message (contextual word vectors), and the sign scores its
    worst-matched word. "saw dots of blood, is that normal?" matches "bleeding" but not "will
    not stop"; "can I come in with a cold sore?" matches no sign at all.
    """

    def __init__(self, embedder: Embedder, model: UrgentModel, learned: SentenceClassifier | None = None) -> None:
        from .retrieval import Vocabulary

        self.embedder, self.model = embedder, model
        self.learned = _usable(learned, embedder)
        self._signs: list[np.ndarray] | None = None
        self._lock = threading.Lock()
        # A mistyped sign word ("bleedng") is read as the sign word it most likely means, by the
        # corrector retrieval uses; here also a real word a hundred times rarer than the sign
        # word it is one slip from ("fevre", "bleedin"), since a missed sign is the worse error.
        self.spelling = Vocabulary(list(URGENT_SIGNS), real_word_margin=SIGN_TYPO_ZIPF_MARGIN)

    def _sign_vectors(self) -> list[np.ndarray]:
        if self._signs is None:
            with self._lock:
                if self._signs is None:
                    signs = []
                    for sign in self.embedder.embed_words(URGENT_SIGNS):
                        keep = [i for i, w in enumerate(sign.words) if w not in STOPWORDS and information(w) > 1.0]
                        signs.append(sign.vectors[keep])
                    self._signs = signs
        return self._signs

    def score(self, message: str) -> float:
        words = self.embedder.query_words(self.spelling.correct_text(safety_text(message)))
        if not words.words:
            return 0.0
        return max(float((sign @ words.vectors.T).max(axis=1).min()) for sign in self._sign_vectors() if len(sign))


class CrisisDetector(_TwoReadings):
    """Scores how close a message comes to one of the CRISIS_SIGNS, as whole sentences.

    Unlike a warning sign, crisis language is rarely made of the sign's own words ("nobody
    would miss me if I was gone"), and the words it does share are everyday ones ("hurt",
    "die"), so the message's sentence vector is compared with each sign's; the threshold is
    calibrated against every ordinary question of the evaluation corpora ("does it hurt?").
    """

    def __init__(self, embedder: Embedder, model: UrgentModel, learned: SentenceClassifier | None = None) -> None:
        self.embedder, self.model = embedder, model
        self.learned = _usable(learned, embedder)
        self._signs: np.ndarray | None = None
        self._lock = threading.Lock()

    def _sign_vectors(self) -> np.ndarray:
        if self._signs is None:
            with self._lock:
                if self._signs is None:
                    self._signs = np.asarray(self.embedder.embed_batch(list(CRISIS_SIGNS)), dtype=np.float32)
        return self._signs

    def score(self, message: str) -> float:
        parts = sentence_parts(message)
        if not parts:
            return 0.0
        return max(float((self._sign_vectors() @ self.embedder.embed_query(part)).max()) for part in parts)


@dataclass(frozen=True)
class GuardReading:
    """Which message a patient's message gets ("crisis" or "urgent"), and whether only a learned
    reading found the need for it (``learned``): the sign lists' readings are the sure ones."""

    kind: str
    learned: bool


def guard_reading(crisis: "CrisisDetector | None", urgent: UrgentDetector, message: str) -> GuardReading | None:
    """The first guard reading that fires on ``message``, or None. The sign lists' readings come
    before the learned ones: a message naming a warning sign in its own words ("won't stop
    bleeding") gets the safety message even when the learned crisis reading also fires on it."""
    readings = [(crisis.by_signs, GuardReading("crisis", False))] if crisis is not None else []
    readings.append((urgent.by_signs, GuardReading("urgent", False)))
    if crisis is not None:
        readings.append((crisis.by_learning, GuardReading("crisis", True)))
    readings.append((urgent.by_learning, GuardReading("urgent", True)))
    return next((reading for reads, reading in readings if reads(message)), None)


def guard_reply(crisis: "CrisisDetector | None", urgent: UrgentDetector, message: str) -> str | None:
    """"crisis", "urgent" or None: which message a patient's message gets (see ``guard_reading``)."""
    reading = guard_reading(crisis, urgent, message)
    return reading.kind if reading is not None else None


def load_learned(path: Path) -> SentenceClassifier | None:
    """A guard's learned reading, or None (the log says why) when its file is missing."""
    if not path.is_file():
        log.warning("no %s: the guard reads messages with its sign list only (python -m training.guards builds it)",
                    path.name)
        return None
    return SentenceClassifier.load(path)


def _usable(learned: SentenceClassifier | None, embedder: Embedder) -> SentenceClassifier | None:
    if learned is not None and not learned.fits(embedder):
        log.warning("a guard's learned reading was fitted on %s vectors, not %s: left out",
                    learned.embedding_model, embedder.name)
        return None
    return learned

