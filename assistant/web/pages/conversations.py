"""The chat page's conversations, kept in the server's memory under the id a browser tab holds in
its sessionStorage, so a reload shows the conversation again (as the widget's does) until "New chat".

Only a browser that holds the id can read its conversation: the id is 128 random bits made in the
browser, and it is only ever a key in memory, never a file name or a path. Nothing is written to
disk; a conversation is forgotten TTL_SECONDS after its last turn, or sooner when the store is full.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

from cachetools import TTLCache

# What chat.js makes: 16 random bytes as 32 lower-case hex digits. Anything else keeps nothing.
CONVERSATION_ID = re.compile(r"[0-9a-f]{32}")
# As many messages as the widget keeps in sessionStorage (its KEPT_MESSAGES); older ones are
# dropped from what a reload shows, not from the page already open.
KEPT_MESSAGES = 60
# A turn (the question's and the reply's HTML) is about 1,000 characters: median 1,068, longest
# 1,830 over the seed corpus's 112 evaluation questions (measured 2026-12-05). So a ten-turn
# conversation is about 10,000, and this holds some 1,500 of them in 16-20 MB at most.
MAX_CHARS = 16_000_000
# A clinic's day: a tab reopened the next morning starts afresh.
TTL_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Conversation:
    """What a reload shows (the chat's messages) and the questions follow-ups read."""

    messages: tuple[dict, ...] = ()
    asked: tuple[str, ...] = ()


def _size(conversation: Conversation) -> int:
    return 1 + sum(len(str(m.get("content", ""))) for m in conversation.messages) + sum(map(len, conversation.asked))


class Conversations:
    """Conversations by id, bounded in characters and age."""

    def __init__(self, max_chars: int = MAX_CHARS, ttl_seconds: float = TTL_SECONDS,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self._kept: TTLCache[str, Conversation] = TTLCache(maxsize=max_chars, ttl=ttl_seconds, timer=timer,
                                                           getsizeof=_size)
        self._lock = threading.Lock()

    def get(self, conversation_id: str) -> Conversation | None:
        """The conversation kept under the id; None for an unknown, expired or malformed id."""
        if not CONVERSATION_ID.fullmatch(conversation_id or ""):
            return None
        with self._lock:
            return self._kept.get(conversation_id)

    def put(self, conversation_id: str, messages: list[dict], asked: list[str],
            expected: Conversation | None) -> bool:
        """Keep the conversation if the one kept now is still ``expected`` (what ``get`` gave when the
        turn began): a turn that "New chat" overtook does not bring the old conversation back."""
        if not CONVERSATION_ID.fullmatch(conversation_id or ""):
            return False
        conversation = Conversation(tuple(messages[-KEPT_MESSAGES:]), tuple(asked))
        with self._lock:
            if self._kept.get(conversation_id) is not expected:
                return False
            try:
                self._kept[conversation_id] = conversation
            except ValueError:  # larger than the whole store: keep nothing rather than fail the turn
                self._kept.pop(conversation_id, None)
                return False
        return True

    def clear(self, conversation_id: str) -> None:
        """Start the conversation afresh ("New chat")."""
        if CONVERSATION_ID.fullmatch(conversation_id or ""):
            with self._lock:
                # A new empty record, not a deletion: a turn still running (expecting the old one,
                # or none) then finds it changed and keeps nothing.
                self._kept[conversation_id] = Conversation()
