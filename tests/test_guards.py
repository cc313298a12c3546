import pytest

from assistant.guards import focus_terms, is_urgent, unknown_terms, validate_question


@pytest.mark.parametrize("question, problem", [
    ("", "Please type a question."),
    ("   \n\t ", "Please type a question."),
    ("x" * 1001, "Your question is 1001 characters long; please keep it under 1000."),
    ("hello\x00there", "Your question contains control characters; please type it again as plain text."),
    (42, "The question must be text."),
])
def test_invalid_questions_get_a_message(question, problem):
    assert validate_question(question, 1000) == problem


def test_valid_question_including_markup_passes():
    assert validate_question("Is it <b>permanent</b>?\n", 1000) is None


@pytest.mark.parametrize("question", [
    "There is pus coming from my cheek",
    "the redness is spreading after my session",
    "I have a fever since the treatment",
    "I'm having trouble breathing",
    "my lips are swelling up",
    "swelling in my throat after microneedling",
    "the bleeding won't stop",
    "I think it's infected",
])
def test_emergency_signs_are_urgent(question):
    assert is_urgent(question)


@pytest.mark.parametrize("question", [
    "Is redness normal after microneedling?",
    "How long does mild swelling last?",
    "Does microneedling help acne scars?",
])
def test_ordinary_side_effect_questions_are_not_urgent(question):
    assert not is_urgent(question)


def test_focus_terms_drop_question_framing():
    assert focus_terms("How long will the results of microneedling last?") == ["results", "microneedling", "last"]


def test_unknown_terms_uses_the_vocabulary():
    known = {"microneedling", "results", "last"}
    assert unknown_terms("How much does microneedling cost?", known.__contains__) == ["cost"]
    assert unknown_terms("Do microneedling results last?", known.__contains__) == []
