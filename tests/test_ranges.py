"""The CLI's range syntax (wavjepa_nat/ranges.py): every good and bad form."""

import pytest

from wavjepa_nat.errors import InputError
from wavjepa_nat.ranges import parse_int_interval, parse_interval, parse_values


@pytest.mark.parametrize(
    "text, expected",
    [
        ("-5..20", [-5, 0, 5, 10, 15, 20]),
        ("-5..20:2.5", [-5 + 2.5 * k for k in range(11)]),
        ("5", [5.0]),
        ("0,5,10", [0, 5, 10]),
        ("10, 0 ,5", [0, 5, 10]),  # sorted, spaces allowed
        ("5,5,0", [0, 5]),  # duplicates removed
        ("0..1:0.1", [round(0.1 * k, 10) for k in range(11)]),  # no float drift at the end
        ("0..0.3:0.1", [0.0, 0.1, 0.2, 0.3]),
        ("0..10:3", [0, 3, 6, 9, 10]),  # HI is always included
        ("-20..-5", [-20, -15, -10, -5]),
        ("3..3", [3.0]),
        (" 1e1..2e1 ", [10, 15, 20]),
    ],
)
def test_parse_values_good(text, expected):
    assert parse_values(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        "20..-5",
        "abc",
        "0..10:0",
        "0..10:-5",
        "1,2,x",
        "",
        ",",
        "1..2..3",
        "..5",
        "5..",
        "0..10:",
        "nan",
        "inf",
        "-inf..0",
        "0..10:abc",
    ],
)
def test_parse_values_bad(text):
    with pytest.raises(InputError):
        parse_values(text, "snr")


def test_error_messages_name_the_argument():
    with pytest.raises(InputError, match=r"^--snr: .*LO > HI; write it as -5..20"):
        parse_values("20..-5", "--snr")
    with pytest.raises(InputError, match="--snr: 'x' is not a number"):
        parse_values("1,2,x", "--snr")


@pytest.mark.parametrize(
    "text, expected",
    [("0.2..1.5", (0.2, 1.5)), ("3", (3.0, 3.0)), ("-1..1", (-1.0, 1.0)), (" 0 .. 2 ", (0.0, 2.0))],
)
def test_parse_interval_good(text, expected):
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["1.5..0.2", "a..b", "1..", "..1", "1..2..3", "", "nan..1"])
def test_parse_interval_bad(text):
    with pytest.raises(InputError):
        parse_interval(text, "--rt60")


def test_parse_int_interval():
    assert parse_int_interval("1..5") == (1, 5)
    assert parse_int_interval("4") == (4, 4)
    assert isinstance(parse_int_interval("2..3")[0], int)
    for bad in ["1.5..3", "1..2.5", "x", "5..1"]:
        with pytest.raises(InputError):
            parse_int_interval(bad, "--sources")
