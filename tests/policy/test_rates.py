import pytest

from event_gateway.policy.rates import Rate, parse_rate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100/minute", Rate(100, 60)),
        ("10/second", Rate(10, 1)),
        ("5/hour", Rate(5, 3600)),
        ("1000/min", Rate(1000, 60)),
        ("3/s", Rate(3, 1)),
        ("2/days", Rate(2, 86_400)),
        ("10 per minute", Rate(10, 60)),
        ("10/5 minutes", Rate(10, 300)),
        (" 7 / Minute ", Rate(7, 60)),
    ],
)
def test_parses(text: str, expected: Rate) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    "text", ["", "minute", "100", "100/", "/minute", "-1/minute", "0/minute", "10/0 minutes",
             "1.5/second", "10/fortnight", "10/minute/extra"],
)  # fmt: skip
def test_refuses_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="invalid rate"):
        parse_rate(text)


def test_interval_is_the_spacing_of_the_steady_rate() -> None:
    assert parse_rate("100/minute").interval == pytest.approx(0.6)
    assert str(parse_rate("5/hour")) == "5/3600s"


def test_rate_refuses_non_positive_values_even_when_built_directly() -> None:
    with pytest.raises(ValueError):
        Rate(0, 60)
