"""The chat page's conversations kept for a reload (pages/conversations.py), and the chat turns
that keep them, without a browser: a stub assistant answers."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.answer.answering import ANSWERED, OUT_OF_SCOPE, REFUSAL, Answer, Citation
from assistant.settings import Settings
from assistant.web.pages.chat import ChatTurns
from assistant.web.pages.conversations import KEPT_MESSAGES, Conversation, Conversations

ID, OTHER = "0123456789abcdef" * 2, "fedcba9876543210" * 2


def test_a_conversation_is_kept_under_its_id_only():
    store = Conversations()
    assert store.put(ID, [{"role": "user", "content": "hi"}], ["hi"], expected=None)
    kept = store.get(ID)
    assert kept == Conversation(({"role": "user", "content": "hi"},), ("hi",))
    assert store.get(OTHER) is None
    # Only what chat.js makes is an id: no path, no other shape, reaches the store.
    for bad in ("", "../../etc/passwd", ID.upper(), ID + "0", ID[:-1], None):
        assert store.get(bad) is None and not store.put(bad, [], [], expected=None)


def test_new_chat_wins_over_a_turn_that_was_still_running():
    store = Conversations()
    store.put(ID, [{"role": "user", "content": "one"}], ["one"], expected=None)
    began = store.get(ID)
    store.clear(ID)  # "New chat" while the next turn was being answered
    assert store.get(ID) == Conversation()
    assert not store.put(ID, [{"role": "user", "content": "two"}], ["one", "two"], expected=began)
    assert store.get(ID) == Conversation()
    # A turn that began before anything was kept loses to "New chat" too.
    store.clear(OTHER)
    assert not store.put(OTHER, [{"role": "user", "content": "x"}], ["x"], expected=None)


def test_conversations_are_forgotten_after_their_time_and_bounded_in_size():
    now = [0.0]
    store = Conversations(max_chars=1000, ttl_seconds=60, timer=lambda: now[0])
    store.put(ID, [{"role": "user", "content": "a" * 100}], [], expected=None)
    now[0] = 61
    assert store.get(ID) is None
    # Past the size, the least recently used go first; one too big for the whole store is not kept.
    store.put(ID, [{"role": "user", "content": "a" * 600}], [], expected=None)
    store.put(OTHER, [{"role": "user", "content": "b" * 600}], [], expected=None)
    assert store.get(ID) is None and store.get(OTHER) is not None
    assert not store.put(OTHER, [{"role": "user", "content": "c" * 2000}], [], expected=store.get(OTHER))
    assert store.get(OTHER) is None
    # Only the last KEPT_MESSAGES messages are kept for a reload.
    store = Conversations()
    store.put(ID, [{"role": "user", "content": str(i)} for i in range(KEPT_MESSAGES + 5)], [], expected=None)
    assert [m["content"] for m in store.get(ID).messages][:1] == ["5"]


@dataclass
class StubAssistant:
    """Answers "refuse ..." with a refusal, anything else with a one-quote answer."""

    settings: Settings

    def ask(self, question, history=None, audience="public"):
        if question.startswith("refuse"):
            return Answer(question, OUT_OF_SCOPE, REFUSAL)
        return Answer(question, ANSWERED, "Results last. [1]",
                      (Citation(1, "Guide", "Results", "Results last.", "g.txt", 0.9, "chunk-1"),))


class StubFeedback:
    def __init__(self):
        self.votes = []

    def record_question(self, *args, **kwargs):
        pass

    def record_vote(self, vote):
        self.votes.append(vote)


def _turn(turns, question, messages, asked, conversation=ID):
    *_, last = turns.submit(question, messages, asked, conversation)
    return last[2], last[3]


def test_chat_turns_keep_the_conversation_for_a_reload_until_new_chat():
    config = {"phone": "555 0100", "contact_url": ""}
    turns = ChatTurns(StubAssistant(Settings()), config=lambda: config)
    messages, asked = _turn(turns, "how long do results last?", [], [])
    messages, asked = _turn(turns, "refuse this", messages, asked)
    # A reload: a new page with empty state, the same tab's id.
    restored = turns.restore(ID, [], [])
    assert restored == (messages, messages, asked) and asked == ["how long do results last?", "refuse this"]
    assert turns.restore(OTHER, [], []) == ([], [], [])  # another tab, another visitor: nothing
    # The phone is read from the configuration as it is now (the console may have changed it).
    config["phone"] = "555 0199"
    messages, asked = _turn(turns, "refuse again", messages, asked)
    assert "tel:5550199" in messages[-1]["content"] and "tel:5550100" in messages[3]["content"]
    assert turns.new_chat(ID) == ("", [], [], [])
    assert turns.restore(ID, [], []) == ([], [], [])


def test_only_answers_take_votes():
    from types import SimpleNamespace

    feedback = StubFeedback()
    turns = ChatTurns(StubAssistant(Settings()), feedback, config=lambda: {"phone": "", "contact_url": ""})
    messages, _ = _turn(turns, "refuse this", [], [])
    messages, _ = _turn(turns, "how long do results last?", messages, [])
    for index in (1, 3):
        turns.vote(SimpleNamespace(value=messages[index]["content"], liked=False, index=index), None)
    assert [(v.question, v.vote) for v in feedback.votes] == [("how long do results last?", "down")]
