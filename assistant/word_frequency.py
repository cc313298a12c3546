"""English word frequencies (wordfreq's Zipf scale) from a compact table.

wordfreq keeps its whole English list as a dict of 321,000 words (about 34 MB resident, a tenth of
a one-shot `python -m assistant ask`). The same figures fit in a sorted array of the words' hashes
and one small integer (the frequency bucket) each, about 3 MB; lookups then give exactly what
``wordfreq.zipf_frequency(word, "en")`` gives (tests/test_word_frequency.py checks every word of
the list and a set of made-up ones).
"""

from __future__ import annotations

import math
import threading

import numpy as np


class FrequencyTable:
    """wordfreq's English list: word → frequency bucket (centibels below 1), looked up by hash.

    Python's ``hash`` is stable within a process, which is all the table needs (it is built per
    process); two of 321,000 words colliding in 64 bits is not a practical concern, and a word not
    in the list compares its hash only, with the same odds of a false hit.
    """

    def __init__(self, hashes: np.ndarray, centibels: np.ndarray) -> None:
        order = np.argsort(hashes, kind="stable")
        self._hashes, self._centibels = hashes[order], centibels[order]

    @classmethod
    def from_cbpack(cls, path: str) -> "FrequencyTable":
        """Read wordfreq's list file (gzipped msgpack: a header, then one list of words per
        centibel) one word at a time, so its 321,000 words are never all in memory as objects
        (as a list they would leave ~25 MB behind that Python keeps for later use)."""
        import gzip

        import msgpack

        hashes, centibels = [], []
        with gzip.open(path, "rb") as f:
            unpacker = msgpack.Unpacker(f, raw=True)  # raw: the UTF-8 bytes, hashed as _key does
            buckets = unpacker.read_array_header() - 1
            header = unpacker.unpack()
            if header.get(b"format") != b"cB" or header.get(b"version") != 1:
                raise ValueError(f"{path}: not a wordfreq cBpack file (header {header!r})")
            for cb in range(buckets):
                count = unpacker.read_array_header()
                hashes.append(np.fromiter((hash(unpacker.unpack()) for _ in range(count)), dtype=np.int64, count=count))
                centibels.append(np.full(count, cb, dtype=np.uint16))
        return cls(np.concatenate(hashes), np.concatenate(centibels))

    def frequency(self, token: str) -> float | None:
        """The token's frequency (a proportion), or None when the list does not have it."""
        key = _key(token)
        # A few words are listed twice; like wordfreq's dict, the later (rarer) entry counts, and
        # the stable sort keeps it last among equal hashes.
        at = int(np.searchsorted(self._hashes, key, side="right")) - 1
        if at >= 0 and self._hashes[at] == key:
            return 10 ** (-int(self._centibels[at]) / 100)  # wordfreq's cB_to_freq
        return None


def _key(word: str) -> int:
    # The hash of the UTF-8 bytes, not of the str: a str hashes its internal buffer, so "kp"
    # (bytes 6B 70) and "\u706b" (one two-byte character, 6B 70) would share a hash.
    return hash(word.encode("utf-8"))


_lock = threading.Lock()
_tables: list[FrequencyTable] = []


def _table() -> FrequencyTable:
    """Built once per process, on the first lookup (a lock keeps two first callers from both building)."""
    if not _tables:
        with _lock:
            if not _tables:
                from wordfreq import available_languages

                _tables.append(FrequencyTable.from_cbpack(available_languages("best")["en"]))
    return _tables[0]


def zipf_frequency(word: str) -> float:
    """``wordfreq.zipf_frequency(word, "en")``, from the compact table (wordfreq's own steps:
    its tokenizer, digits smashed to 0, several tokens combined as 1/f = 1/f1 + 1/f2 ...)."""
    from wordfreq.numbers import digit_freq, smash_numbers
    from wordfreq.tokens import lossy_tokenize

    minimum = 1e-9  # zipf_to_freq(0): the floor zipf_frequency passes on
    tokens = lossy_tokenize(word, "en")
    freq = minimum
    if tokens:
        table, one_over = _table(), 0.0
        for token in tokens:
            smashed = smash_numbers(token)
            found = table.frequency(smashed)
            if found is None:
                one_over = 0.0
                break
            if smashed != token:
                found *= digit_freq(token)
            one_over += 1.0 / found
        if one_over:
            freq = max(1.0 / one_over, minimum)
    # wordfreq rounds to three significant digits, then the Zipf value to hundredths.
    freq = round(freq, math.floor(-math.log(freq, 10)) + 3)
    return round(math.log(freq, 10) + 9, 2)
