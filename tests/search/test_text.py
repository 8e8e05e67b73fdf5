from __future__ import annotations

import unicodedata

import pytest

from hypothesis import given, settings as hsettings, strategies as st

from search.text import NORMALIZATION_VERSION, normalization_version, normalize

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)


def test_full_width_ascii_digits_and_punctuation_become_half_width() -> None:
    assert normalize("ＡＢＣ１２３！？（）") == "ABC123!?()"


def test_zero_width_and_control_characters_are_removed() -> None:
    assert normalize("退\u200b款\u200d多\ufeff久\u2060到\x00账\x1b\x85") == "退款多久到账"


def test_whitespace_is_folded_including_ideographic_space() -> None:
    assert normalize("  密码\u3000\u3000忘了 \t 怎么办  ") == "密码 忘了 怎么办"
    assert normalize("第一行\r\n\r\n\n  第二行") == "第一行\n第二行"


def test_chinese_punctuation_that_nfkc_keeps_is_kept() -> None:
    # Ideographic comma and full stop have no compatibility mapping.
    assert normalize("好的，谢谢。") == "好的,谢谢。"


def test_traditional_to_simplified_is_optional() -> None:
    assert normalize("退款多久會到帳") == "退款多久會到帳"
    assert normalize("退款多久會到帳", traditional_to_simplified=True) == "退款多久会到账"
    assert normalization_version(True) != normalization_version(False) == NORMALIZATION_VERSION


@hsettings(max_examples=300)
@given(st.text())
def test_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@hsettings(max_examples=100)
@given(st.text(alphabet=st.sampled_from("退款會帳號們這樣\u200b ａ１，。")))
def test_idempotent_with_conversion(text: str) -> None:
    once = normalize(text, traditional_to_simplified=True)
    assert normalize(once, traditional_to_simplified=True) == once


@hsettings(max_examples=300)
@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(ZERO_WIDTH))))
def test_never_produces_zero_width_or_control_characters(text: str) -> None:
    out = normalize(text)
    assert not any(ch in ZERO_WIDTH for ch in out)
    assert all(ch in "\n\t" or unicodedata.category(ch) != "Cc" for ch in out)


@given(st.text(alphabet=CJK, min_size=1))
def test_keeps_cjk_text_intact(text: str) -> None:
    assert normalize(text) == unicodedata.normalize("NFKC", text) == text


@pytest.mark.parametrize(("traditional", "simplified"), [
    ("退款多久會到帳", "退款多久会到账"),  # t2s alone gives 到帐, which the FAQ never writes
    ("帳號密碼忘記了", "账号密码忘记了"),
    ("我的帳戶被凍結了", "我的账户被冻结了"),
    ("這個軟體怎麼下載", "这个软件怎么下载"),  # Taiwan words, not only characters
    ("請問網路斷線怎麼辦", "请问网络断线怎么办"),
    ("蚊帳和帳篷", "蚊帐和帐篷"),  # 帐 keeps its own sense
])
def test_traditional_questions_reach_the_words_the_faq_uses(traditional: str, simplified: str) -> None:
    assert normalize(traditional, traditional_to_simplified=True) == simplified
    assert normalize(simplified, traditional_to_simplified=True) == simplified
