"""The search fold (chat/domain/search_fold.py): what counts as the same text."""

from __future__ import annotations

import pytest

from chat.domain.search_fold import search_fold


@pytest.mark.parametrize("spellings", [
    ("ｶﾀｶﾅ", "カタカナ", "かたかな"),
    ("ｶﾅ", "カナ", "かな"),
    ("ｶﾞｯｺｳ", "ガッコウ", "がっこう"),       # voicing marks composed, small kana kept
    ("ＡＢＣ", "ABC", "abc", "Abc"),
    ("０３－１２３４－５６７８", "03-1234-5678", "0312345678", "03ー1234ー5678",
     "03‐1234‐5678", "03−1234−5678", "03–1234–5678"),
    ("ヽヾ", "ゝゞ"),
])
def test_spellings_of_one_text_fold_alike(spellings: tuple[str, ...]) -> None:
    assert len({search_fold(s) for s in spellings}) == 1, [search_fold(s) for s in spellings]


@pytest.mark.parametrize(("text", "folded"), [
    ("ｶﾀｶﾅ", "かたかな"),
    ("ＰＣ窓口", "pc窓口"),
    ("電話 03-1234-5678 まで", "電話 0312345678 まで"),
    ("メール", "めーる"),             # the long-vowel mark stays between kana
    ("ヴァイオリン", "ゔぁいおりん"),
    ("ヷ", "ヷ"),                     # no hiragana of its own
    ("3-", "3-"),                     # a hyphen not between two digits stays
    ("a-b", "a-b"),
    ("1-a", "1-a"),
    ("㈱", "(株)"),
    ("É", "é"),
    ("", ""),
])
def test_the_fold(text: str, folded: str) -> None:
    assert search_fold(text) == folded


def test_folding_twice_changes_nothing() -> None:
    for text in ("ｶﾀｶﾅ ＡＢＣ ０３－１２３４－５６７８", "1--2", "ｰｰ", "ﾞ"):
        once = search_fold(text)
        assert search_fold(once) == once


def test_a_folded_word_is_in_the_folded_text_it_was_cut_from() -> None:
    """What the index and the confirmation rely on, for words cut away from digits."""
    text = "台風接近のため ｶﾀｶﾅ表記 ＡＢＣ 03-1234-5678 に連絡"
    for word in ("ｶﾀｶﾅ", "カタ", "かな", "ＡＢ", "bc", "5678", "03", "台風"):
        assert search_fold(word) in search_fold(text), word
