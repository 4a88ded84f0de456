"""Character vocabulary for CTC targets, and greedy CTC decoding (pure Python/numpy).

The vocabulary is built from the *training* transcripts only: index 0 is the CTC blank, then
space, apostrophe and the lowercase letters that occur (German ä, ö, ü, ß included, and any
other alphabetic character a corpus uses). Text is normalised before encoding: Unicode NFC,
lowercase, typographic apostrophes to ``'``, bracketed annotations such as IEMOCAP's
``[LAUGHTER]`` removed, every other character (punctuation, digits, ...)
to a space, runs of spaces collapsed. Characters unseen in training are dropped at encode time
(and counted by :meth:`CharVocab.unknown_chars` so callers can warn).

Examples:
    >>> v = CharVocab.from_texts(["Das will sie am Mittwoch abgeben.", "Kids are talking."])
    >>> v.normalize("Hallo, Welt! [LAUGHTER] It’s")
    "hallo welt it's"
    >>> ids = v.encode("das ist")
    >>> v.decode(ids)
    'das ist'
    >>> v.decode_ctc([0, ids[0], ids[0], 0, ids[1], 0, 0, ids[2]])
    'das'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from serkit.errors import ConfigError

BLANK = "<blank>"
#: apostrophe-like characters mapped to ``'``
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_SPACES = re.compile(r"\s+")
_ANNOTATIONS = re.compile(r"\[[^\]]*\]")  # IEMOCAP's [LAUGHTER], [BREATHING], ... are not speech


def normalize_text(text: str) -> str:
    """Lowercase, NFC, keep letters, apostrophes and single spaces.

    Args:
        text: a transcript.

    Returns:
        the normalised transcript (may be empty).
    """
    t = _ANNOTATIONS.sub(" ", unicodedata.normalize("NFC", text)).translate(_APOSTROPHES).lower()
    t = "".join(c if (c.isalpha() or c == "'") else " " for c in t)
    return _SPACES.sub(" ", t).strip()


def ctc_collapse(frame_ids: Iterable[int], blank: int = 0) -> list[int]:
    """Greedy CTC decoding of per-frame argmax ids: collapse repeats, then drop blanks.

    Args:
        frame_ids: ``(T,)`` best token per frame.
        blank: blank index.

    Returns:
        the label sequence.

    Examples:
        >>> ctc_collapse([0, 3, 3, 0, 3, 5, 5, 0])
        [3, 3, 5]
    """
    out: list[int] = []
    prev = None
    for i in frame_ids:
        i = int(i)
        if i != prev and i != blank:
            out.append(i)
        prev = i
    return out


class CharVocab:
    """Characters <-> indices with the CTC blank at 0.

    Args:
        chars: the non-blank symbols in index order (index 1 onwards).

    Raises:
        ConfigError: a symbol is repeated, empty or longer than one character.
    """

    blank: int = 0

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        bad = [c for c in chars if len(c) != 1]
        if bad:
            raise ConfigError(f"vocabulary symbols must be single characters, got {bad[:5]}")
        if len(set(chars)) != len(chars):
            raise ConfigError(f"vocabulary symbols must be unique, got {chars}")
        self.chars = chars
        self.index = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def from_texts(cls, texts: Iterable[str | None]) -> CharVocab:
        """Build the vocabulary from (training) transcripts; None entries are skipped.

        Raises:
            ConfigError: no transcript has any letter (nothing to train CTC on).
        """
        seen: set[str] = set()
        for t in texts:
            if t:
                seen.update(normalize_text(t))
        letters = sorted(c for c in seen if c not in (" ", "'"))
        if not letters:
            raise ConfigError("cannot build a CTC vocabulary: no training utterance has a transcript "
                              "with letters; use a corpus with text (EmoDB, RAVDESS, LJSpeech, IEMOCAP) "
                              "or set train.loss_weights.ctc=0")
        return cls([" ", "'", *letters])

    def __len__(self) -> int:
        """Number of symbols including the blank (the CTC output size V)."""
        return len(self.chars) + 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"CharVocab({''.join(self.chars)!r})"

    normalize = staticmethod(normalize_text)

    def unknown_chars(self, text: str) -> set[str]:
        """Characters of the normalised ``text`` that the vocabulary lacks (dropped by encode)."""
        return {c for c in normalize_text(text) if c not in self.index}

    def encode(self, text: str) -> np.ndarray:
        """Token ids ``(L,)`` int64 of a transcript (normalised; unknown characters dropped)."""
        ids = [self.index[c] for c in normalize_text(text) if c in self.index]
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a label sequence (blanks skipped, no collapsing)."""
        return "".join(self.chars[i - 1] for i in (int(j) for j in ids) if 0 < i <= len(self.chars)).strip()

    def decode_ctc(self, frame_ids: Iterable[int]) -> str:
        """Greedy CTC decoding of per-frame argmax ids ``(T,)`` to text."""
        text = self.decode(ctc_collapse(frame_ids, self.blank))
        return _SPACES.sub(" ", text)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/checkpoint-friendly dict."""
        return {"type": "char", "blank": self.blank, "chars": list(self.chars)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CharVocab:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: ``d`` is not a serialised CharVocab.
        """
        if not isinstance(d, Mapping) or "chars" not in d or d.get("blank", 0) != 0:
            raise ConfigError(f"not a serialised CharVocab (expected keys type, blank=0, chars), got {d!r}")
        return cls(list(d["chars"]))
