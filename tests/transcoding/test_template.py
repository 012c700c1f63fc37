"""parse_template against grpc-httpjson-transcoding's own parser tests (tests/data/conformance)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from event_gateway.transcoding.template import (
    Template,
    TemplateError,
    Variable,
    parse_template,
)

CORPUS = Path(__file__).parent.parent / "data" / "conformance" / "httpjson_template_parse.json"


def _cases() -> list[Any]:
    cases = json.loads(CORPUS.read_text())["cases"]
    return [
        pytest.param(case, id=f"{i:02d}-{'ok' if case['valid'] else 'bad'}:{case['template']}")
        for i, case in enumerate(cases)
    ]


@pytest.mark.parametrize("case", _cases())
def test_corpus(case: dict[str, Any]) -> None:
    if not case["valid"]:
        with pytest.raises(TemplateError):
            parse_template(case["template"])
        return
    parsed = parse_template(case["template"])
    assert list(parsed.segments) == case["segments"]
    # An absent key means the upstream test did not assert it.
    if "verb" in case:
        assert parsed.verb == case["verb"]
    if "variables" in case:
        assert [
            {
                "field_path": list(v.field_path),
                "start_segment": v.start_segment,
                "end_segment": v.end_segment,
                "has_wildcard_path": v.has_wildcard_path,
            }
            for v in parsed.variables
        ] == case["variables"]


def test_parsed_form_is_a_frozen_value() -> None:
    assert parse_template("/v1/{name=shelves/*}:publish") == Template(
        text="/v1/{name=shelves/*}:publish",
        segments=("v1", "shelves", "*"),
        verb="publish",
        variables=(Variable(("name",), 1, 3, False),),
    )


@pytest.mark.parametrize(
    ("template", "position", "problem"),
    [
        pytest.param("", 0, "must start with '/'", id="empty"),
        pytest.param("a/b", 0, "must start with '/'", id="relative"),
        pytest.param("/a/", 3, "must not end with '/'", id="trailing-slash"),
        pytest.param("/a//b", 3, "empty segment", id="empty-segment"),
        pytest.param("/a/:verb", 3, "empty segment before the verb", id="verb-alone"),
        pytest.param("/a:", 3, "empty verb", id="empty-verb"),
        pytest.param("/a/{", 4, "expected a field name", id="open-brace"),
        pytest.param("/a/{var", 7, "expected '}'", id="unterminated"),
        pytest.param("/a/{x=var:verb}", 9, "expected '}'", id="verb-in-variable"),
        pytest.param("/{var=a/{nested=b}}", 8, "nested variables", id="nested"),
        pytest.param("/a{x}", 2, "unexpected '{'", id="brace-in-literal"),
        pytest.param("/{x}a", 4, "unexpected 'a'", id="text-after-variable"),
        pytest.param("/*a", 2, "whole segments", id="partial-wildcard"),
        pytest.param("/a/**/*", 6, "only literal segments may follow '**'", id="star-after-2star"),
        pytest.param("/{a-b}", 3, "expected '}'", id="non-identifier-field"),
        pytest.param("/a:b/c", 4, "unexpected '/'", id="slash-after-verb"),
    ],
)
def test_errors_name_problem_and_position(template: str, position: int, problem: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(template)
    assert caught.value.position == position
    assert problem in caught.value.problem
    assert f"position {position}" in str(caught.value)
    assert isinstance(caught.value, ValueError)
