import pytest

from callscope_core.chinese import CHINESE_SCRIPTS, to_script, to_simplified


def test_traditional_becomes_simplified_and_back() -> None:
    traditional = "我的上一個訂單被扣了兩次款，我想申請退款。"  # noqa: RUF001
    simplified = "我的上一个订单被扣了两次款，我想申请退款。"  # noqa: RUF001
    assert to_simplified(traditional) == simplified
    assert to_simplified(simplified) == simplified  # already Simplified: unchanged
    assert to_script(simplified, "traditional") == traditional
    assert to_script(traditional, "original") == traditional


def test_phrases_not_characters_decide_the_traditional_form() -> None:
    # One Simplified character, two Traditional ones: "hair" and "to find" differ.
    assert to_script("头发", "traditional") == "頭髮"
    assert to_script("发现", "traditional") == "發現"


def test_text_in_other_scripts_is_left_alone() -> None:
    text = "Conseillère, s'il vous plaît ! Оператор, пожалуйста. agent 12315"
    for script in CHINESE_SCRIPTS:
        assert to_script(text, script) == text
    assert to_script("", "simplified") == ""


def test_an_unknown_script_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown Chinese script"):
        to_script("你好", "cantonese")  # type: ignore[arg-type]
