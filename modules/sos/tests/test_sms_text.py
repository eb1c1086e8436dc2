"""SMS text: E.164 numbers, GSM-7 segment counting and fitting."""

from __future__ import annotations

import pytest

from modules.sos.channels.sms import fit_sms, is_gsm7, normalize_phone, segments

pytestmark = pytest.mark.nodb


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+15555550100", "+15555550100"),
        ("+1 (555) 555-0100", "+15555550100"),
        ("0049 30 1234567", "+49301234567"),
        ("+44.20.7946.0958", "+442079460958"),
    ],
)
def test_normalizes_phone_numbers_to_e164(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["5555550100", "+0123456789", "+1", "+1234567890123456", "tel:+1"])
def test_refuses_numbers_that_are_not_e164(raw):
    with pytest.raises(ValueError, match=r"E\.164"):
        normalize_phone(raw)


def test_counts_gsm7_segments_with_extended_characters_as_two():
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("€" * 80) == 1  # 160 septets
    assert segments("€" * 81) == 2
    assert segments("a" * 153 * 3) == 3


def test_counts_ucs2_segments_when_one_character_is_not_gsm7():
    assert not is_gsm7("Alarm ✅")
    assert segments("✅" + "a" * 69) == 1
    assert segments("✅" + "a" * 70) == 2
    assert segments("😀" * 35) == 1  # an emoji is two UTF-16 code units


def test_folds_typography_so_the_text_stays_gsm7():
    text = fit_sms("Evacuate \u201cnow\u201d \u2013 it\u2019s\u00a0urgent\u2026", 1)
    assert text == 'Evacuate "now" - it\'s urgent...'
    assert is_gsm7(text)


def test_cuts_long_text_to_the_segment_budget():
    text = fit_sms("word " * 200, 2)
    assert segments(text) == 2
    assert text.endswith("...")
    assert fit_sms("short", 1) == "short"
