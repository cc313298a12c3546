import pytest

from assistant.answer.answering import crisis_message
from assistant.answer.guards import (CRISIS_SIGNS, URGENT_SIGNS, CrisisDetector, UrgentDetector, UrgentModel, safety_text,
                                    sentence_parts, validate_question)
from assistant.errors import ConfigError
from assistant.settings import Settings


@pytest.mark.parametrize("question, kind, message", [
    ("", "empty", "Please type a question."),
    ("   \n\t ", "empty", "Please type a question."),
    ("<b></b> <script>alert('hi')</script>", "empty", "Please type a question."),
    ("x" * 1001, "too_long", "Your question is 1001 characters long; please keep it under 1000."),
    ("hello\x00there", "control_chars", "Your question contains control characters; please type it again as plain text."),
    (42, "not_text", "The question must be text."),
    ("is it \ud800 permanent?", "not_text", "Your question contains characters that are not text; please type it again."),
])
def test_invalid_questions_get_a_kind_and_a_message(question, kind, message):
    problem = validate_question(question, 1000)
    assert (problem.kind, problem.message) == (kind, message)


def test_valid_question_including_markup_passes():
    assert validate_question("Is it <b>permanent</b>?\n", 1000) is None


def test_a_message_is_read_whole_and_by_its_sentences_typed_in_lower_case():
    message = "does it hurt? i hate my face so much. can i pay monthly"
    assert sentence_parts(message) == (message, "does it hurt?", "i hate my face so much.", "can i pay monthly")
    assert sentence_parts("is it 3.5 mm deep") == ("is it 3.5 mm deep",)  # one sentence: read once
    assert sentence_parts("ｐｕｓ on my chin. help") == ("pus on my chin. help", "pus on my chin.", "help")
    assert sentence_parts(" \u200b ") == ()


def test_safety_text_folds_what_would_hide_a_sign():
    assert safety_text("ｆｅｖｅｒ") == "fever"
    assert safety_text("fe\u200bver and blee\u00adding") == "fever and bleeding"
    assert safety_text("f\u0435ver and \u0440us") == "fever and pus"  # Cyrillic е and р
    assert safety_text("café au lait") == "cafe au lait"  # an accented letter reads as its own base letter
    assert safety_text("is it ok? \U0001F60A") == "is it ok? \U0001F60A"  # symbols and emoji stay as typed


@pytest.mark.parametrize("typed", ["fεver", "ꜰever", "fᴇver", "feveʀ", "ƒever", "ғever", "fɛver", "fevɘr"])
def test_small_capitals_ipa_and_other_scripts_fold_to_the_latin_letter(typed):
    # Issue 21's probe: Greek, small-capital, IPA, hooked and Cyrillic letters in "fever".
    assert safety_text(typed) == "fever"
    assert safety_text("ᴘᴜs and bʀeathing, ʀedness") == "pus and breathing, redness"


@pytest.fixture
def detector(fake_embedder):
    # The fake embedder aligns words by their stem only: a sign is matched when all of its
    # content words occur, which is the rule the real model applies to paraphrases.
    return UrgentDetector(fake_embedder, UrgentModel(threshold=0.5))


@pytest.mark.parametrize("question", [
    "There is pus coming from my cheek",
    "the redness is spreading after my session, spreading redness everywhere",
    "I have a fever since the treatment",
    "I'm having trouble breathing",
    "hives on my face since this morning",
    "ｍｙ ｆｅｖｅｒ is high",  # full-width letters are folded first
    "I have a f\u0435ver",  # a Cyrillic look-alike letter
])
def test_emergency_signs_are_urgent(detector, question):
    assert detector(question)


@pytest.mark.parametrize("question", [
    "Is redness normal after microneedling?",
    "How long does mild swelling last?",
    "Does microneedling help acne scars?",
    "can I come in if I have a cold sore right now?",
])
def test_ordinary_and_eligibility_questions_are_not_urgent(detector, question):
    assert not detector(question)


def test_every_sign_matches_itself(detector):
    assert all(detector.score(sign) == pytest.approx(1.0) for sign in URGENT_SIGNS)


def test_the_crisis_detector_scores_whole_sentences(fake_embedder):
    # The fake embedder's sentence vectors are hashed bags of words: a sign's own sentence scores
    # 1, a message sharing none of its words 0.
    detector = CrisisDetector(fake_embedder, UrgentModel(threshold=0.9))
    assert detector.score(CRISIS_SIGNS[0]) == pytest.approx(1.0, abs=1e-5) and detector(CRISIS_SIGNS[0])
    assert detector.score("How many sessions are needed?") < 0.5 and not detector("How many sessions are needed?")
    assert detector.score("   ") == 0.0


@pytest.mark.parametrize("env, line", [
    ({}, "call or text 988"),
    ({"CLINIC_COUNTRY": "gb"}, "Samaritans on 116 123"),
    ({"CLINIC_COUNTRY": "AU"}, "Lifeline on 13 11 14"),
    ({"CLINIC_COUNTRY": "GB", "CRISIS_LINE": "call the county line on 0800 000 000"}, "county line on 0800"),
])
def test_the_crisis_message_names_the_line_of_the_clinics_country(env, line):
    settings = Settings.from_env(env, llm_provider="")
    assert line in crisis_message(settings.crisis_contact)
    assert "emergency number" in crisis_message(settings.crisis_contact)


def test_a_country_without_a_known_line_still_gets_a_way_to_help():
    message = crisis_message(Settings.from_env({"CLINIC_COUNTRY": "FR"}, llm_provider="").crisis_contact)
    assert "crisis line" in message and "emergency number" in message


@pytest.mark.parametrize("env, named", [({"CLINIC_COUNTRY": "USA"}, "CLINIC_COUNTRY"), ({"CRISIS_LINE": "x" * 201}, "CRISIS_LINE")])
def test_bad_crisis_settings_name_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env, llm_provider="")


@pytest.fixture(scope="module")
def real_guards():
    """The guards as the product builds them: the real embedding model, the sign lists and the
    shipped learned readings."""
    from assistant.answer.guards import LEARNED_CRISIS, LEARNED_WARNING, load_learned
    from assistant.embeddings import get_serving_embedder

    settings = Settings.from_env({})
    embedder = get_serving_embedder(settings)
    crisis = CrisisDetector(embedder, UrgentModel.load(settings.calibration_file, "crisis"), load_learned(LEARNED_CRISIS))
    urgent = UrgentDetector(embedder, UrgentModel.load(settings.calibration_file), load_learned(LEARNED_WARNING))
    assert crisis.learned is not None and urgent.learned is not None, "the learned readings did not load"
    return crisis, urgent


def test_a_named_warning_sign_gets_the_safety_message_even_when_the_crisis_reading_fires(real_guards):
    """The sign lists' readings come first: every emergency case of the fitted corpora, each
    naming its sign in its own words, gets the safety message, never the crisis message."""
    from assistant.answer.guards import guard_reply
    from evals.corpora import load_corpora
    from evals.runner import load_cases

    crisis, urgent = real_guards
    emergencies = [case.question for corpus in load_corpora() if not corpus.held_out and corpus.available
                   for case in load_cases(corpus.cases) if case.kind == "urgent"]
    assert len(emergencies) >= 6
    assert {q: guard_reply(crisis, urgent, q) for q in emergencies} == {q: "urgent" for q in emergencies}
    if not any(crisis.by_learning(q) for q in emergencies):  # the dev set holds one; it lies beside the project
        pytest.skip("no emergency case here fires the learned crisis reading: the order was not put to the test")


@pytest.mark.parametrize("message, reply", [
    ("I want to kill myself", "crisis"),  # the sign list's own words
    ("There is pus coming from my cheek", "urgent"),
    ("my throat feels like it is closing", "urgent"),  # issue 21's paraphrase: the learned reading's
    ("i have a fevre since my treatment", "urgent"),  # issue 21's typo: a real word, but 370 times rarer
    ("can i pay with a fiver", None),  # a real word only 30 times rarer than "fever": left as typed
    ("How many sessions will I need?", None),
])
def test_the_guards_reply_by_their_first_reading_that_fires(real_guards, message, reply):
    from assistant.answer.guards import guard_reply

    assert guard_reply(*real_guards, message) == reply


def test_a_real_word_is_read_as_a_close_word_only_when_far_rarer_and_only_when_asked():
    from assistant.answer.retrieval import Vocabulary

    signs = Vocabulary(["a fever", "bleeding that will not stop"], real_word_margin=2.0)
    assert [signs.correct(w) for w in ("fevre", "bleedin", "fiver", "fevers", "fever")] == \
        ["fever", "bleeding", "fiver", "fevers", "fever"]
    assert Vocabulary(["a fever"]).correct("fevre") == "fevre"  # retrieval's corrector: real words stay
