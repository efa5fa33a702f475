"""The one fold of message search: what counts as "the same" text when searching.

A person types ｶﾀｶﾅ, カタカナ or かたかな, ＡＢＣ or abc, 0312345678 or 03-1234-5678 and
means the same thing. Search compares folded texts: a message is found when the fold
of its text contains the fold of the query as a substring. The fold is stored beside
each text when it is written (``messages.search_text``, ``message_revisions.search_text``,
alembic 0021) and the search indexes hold the stored fold, so this function is the only
definition: the database never re-implements it.

The fold, in order:

1. Unicode NFKC: half-width katakana become full-width (ｶﾞ → ガ, voicing marks
   composed), full-width Latin letters, digits and signs become ASCII (ＡＢＣ → ABC,
   ０３ → 03, － → -), compatibility characters are spelled out (㈱ → (株)).
2. Lowercase (``str.lower``): case-insensitive for every script that has case.
3. Katakana to hiragana: U+30A1–U+30F6 (ァ…ヶ) and the iteration marks ヽ ヾ become
   their hiragana (offset 0x60). ヷ–ヺ (no hiragana) and the long-vowel mark ー stay.
4. Hyphen-like characters between two ASCII digits are removed, so a telephone number
   is one run of digits however it is spelled (03-1234-5678, 03ー1234ー5678 → 0312345678).
   The characters: - ‐ ‑ ‒ – — ― − ー (after NFKC, which maps － and ｰ onto - and ー).

Changing the fold changes what the stored folds mean: it needs a migration that folds
every stored text again (as alembic 0021 did first).

Folding is not substring-preserving at a word's edge: "3-" stays "3-" but "3-4" folds to
"34", so "3-" does not find "3-4". A search means the fold of the text containing the
fold of the word; results are exactly that, never approximate.
"""

from __future__ import annotations

import re
import unicodedata

_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}
_KATAKANA_TO_HIRAGANA.update({0x30FD: 0x309D, 0x30FE: 0x309E})

HYPHENS_BETWEEN_DIGITS = "-‐‑‒–—―−ー"
_HYPHENS_IN_A_NUMBER = re.compile(f"(?<=[0-9])[{HYPHENS_BETWEEN_DIGITS}]+(?=[0-9])")


def search_fold(text: str) -> str:
    """``text`` as search compares it (see the module docstring for the exact rules)."""
    if text.isascii():
        # The common Latin-only text: NFKC and kana leave it as it is.
        folded = text.lower()
    else:
        folded = unicodedata.normalize("NFKC", text).lower().translate(_KATAKANA_TO_HIRAGANA)
    if "-" in folded or not folded.isascii():
        folded = _HYPHENS_IN_A_NUMBER.sub("", folded)
    return folded
