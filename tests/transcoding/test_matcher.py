"""PathMatcher against grpc-httpjson-transcoding's PathMatcher tests (tests/data/conformance)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from event_gateway.transcoding.matcher import (
    MatcherOptions,
    PathMatcher,
    PercentDecodingError,
    parse_query,
    percent_decode,
)
from event_gateway.transcoding.template import parse_template

CORPUS = Path(__file__).parent.parent / "data" / "conformance" / "httpjson_path_matcher.json"

# The corpus spells HJT's C++ enum names; the option takes the snake_case spelling.
_SPECS = {
    "kAllCharactersExceptReserved": "all_characters_except_reserved",
    "kAllCharactersExceptSlash": "all_characters_except_slash",
    "kAllCharacters": "all_characters",
}


def _options(raw: dict[str, Any]) -> MatcherOptions:
    spec = raw.get("url_unescape_spec", "kAllCharactersExceptReserved").split()[0]
    return MatcherOptions(
        url_unescape_spec=_SPECS[spec],  # type: ignore[arg-type]
        query_param_unescape_plus=raw.get("query_param_unescape_plus", False),
        match_unregistered_custom_verb=raw.get("match_unregistered_custom_verb", False),
        fail_registration_on_duplicate=raw.get("fail_registration_on_duplicate", False),
        system_params=frozenset(raw.get("system_params", ())),
    )


def _groups() -> list[dict[str, Any]]:
    return json.loads(CORPUS.read_text())["groups"]


def _build(group: dict[str, Any]) -> tuple[PathMatcher[int], list[bool]]:
    matcher: PathMatcher[int] = PathMatcher(_options(group["options"]))
    results = [matcher.register(t["method"], t["template"], index)
               for index, t in enumerate(group["templates"])]
    return matcher, results


def _request_path(request: dict[str, Any]) -> str:
    if request["path"] is None:
        # WildCardMatchesManyWithoutStackOverflow builds its path in code; the corpus keeps the
        # expression. Only these two shapes occur, so build them instead of evaluating text.
        assert request["path_expr"] in ("'/a/' + '/'*64000 + '/x'", "'/a/' + '/'*64000 + '/y'")
        return "/a/" + "/" * 64000 + "/" + request["path_expr"][-2]
    return request["path"]


def _request_cases() -> list[Any]:
    cases = []
    for group in _groups():
        for index, request in enumerate(group["requests"]):
            label = request["path"] if request["path"] is not None else request["path_expr"]
            if request.get("query"):
                label += "?" + request["query"]
            cases.append(pytest.param(group, request, id=f"{group['name']}-{index}:{label}"))
    return cases


def test_corpus_size_is_what_the_corpus_says() -> None:
    raw = json.loads(CORPUS.read_text())
    assert sum(len(g["requests"]) for g in raw["groups"]) == raw["request_count"] == 336


@pytest.mark.parametrize(
    "group", [pytest.param(g, id=g["name"]) for g in _groups() if g["templates"]]
)
def test_corpus_registration(group: dict[str, Any]) -> None:
    _, results = _build(group)
    for template, registered in zip(group["templates"], results, strict=True):
        if "register_ok" in template:  # absent: the upstream test did not assert it
            assert registered == template["register_ok"], template["template"]


@pytest.mark.parametrize(("group", "request_case"), _request_cases())
def test_corpus_lookup(group: dict[str, Any], request_case: dict[str, Any]) -> None:
    matcher, _ = _build(group)
    target = _request_path(request_case)
    if request_case.get("query"):
        target += "?" + request_case["query"]
    match = matcher.lookup(request_case["method"], target)

    if "matches_not" in request_case:
        assert match is None or match.target not in request_case["matches_not"]
        return
    expected = request_case["matches"]
    if expected is None:
        assert match is None
        return
    assert match is not None
    assert match.target == expected
    if "bindings" in request_case:
        got = {".".join(path): value for path, value in match.bindings}
        assert got == request_case["bindings"]
        assert len(match.bindings) == len(request_case["bindings"])
    if "binding_values_in_order" in request_case:
        assert [value for _, value in match.bindings] == request_case["binding_values_in_order"]


# Behaviour the corpus does not pin down, written out so a change is a visible decision.

def test_most_specific_route_wins_whatever_the_registration_order() -> None:
    matcher: PathMatcher[str] = PathMatcher()
    for template in ("/c/*/d/**", "/c/*/d/e", "/c/f/d/e", "/c/**"):
        assert matcher.register("GET", template, template)
    assert _target(matcher, "/c/x/d/e") == "/c/*/d/e"
    assert _target(matcher, "/c/f/d/e") == "/c/f/d/e"
    assert _target(matcher, "/c/x/d/e/g") == "/c/*/d/**"
    assert _target(matcher, "/c/x/y") == "/c/**"


def test_backtracks_when_the_literal_branch_has_no_route() -> None:
    matcher: PathMatcher[str] = PathMatcher()
    matcher.register("GET", "/a/b/c", "literal")
    matcher.register("GET", "/a/{x}/d", "variable")
    match = matcher.lookup("GET", "/a/b/d")
    assert match is not None and match.target == "variable"
    assert match.bindings == [(("x",), "b")]


def test_method_selects_route_and_allowed_methods_lists_the_others() -> None:
    matcher: PathMatcher[str] = PathMatcher()
    matcher.register("GET", "/v1/{name=things/*}", "get")
    matcher.register("DELETE", "/v1/{name=things/*}", "delete")
    matcher.register("POST", "/v1/things", "create")
    matcher.register("POST", "/v1/{name=things/*}:cancel", "cancel")
    assert matcher.lookup("PUT", "/v1/things/1") is None
    assert matcher.allowed_methods("/v1/things/1") == {"GET", "DELETE"}
    assert matcher.allowed_methods("/v1/things/1?x=y") == {"GET", "DELETE"}
    assert matcher.allowed_methods("/v1/things/1:cancel") == {"POST"}
    assert matcher.allowed_methods("/v2/things") == set()
    assert matcher.allowed_methods("no-slash") == set()


def test_any_method_route() -> None:
    matcher: PathMatcher[str] = PathMatcher()
    matcher.register("*", "/health", "any")
    matcher.register("GET", "/health", "get")
    assert _target(matcher, "/health", "GET") == "get"
    assert _target(matcher, "/health", "POST") == "any"


def test_match_exposes_path_and_query_bindings_separately() -> None:
    matcher: PathMatcher[str] = PathMatcher(MatcherOptions(system_params=frozenset({"key"})))
    matcher.register("GET", "/v1/{parent=shops/*}/items/{item.id}", "t")
    match = matcher.lookup("GET", "/v1/shops/s%201/items/i%2F2?key=k&page.size=10&q=a+b")
    assert match is not None
    assert match.template == parse_template("/v1/{parent=shops/*}/items/{item.id}")
    assert match.path_bindings == ((("parent",), "shops/s 1"), (("item", "id"), "i/2"))
    assert match.query_bindings == [(("page", "size"), "10"), (("q",), "a+b")]
    assert match.bindings == [*match.path_bindings, *match.query_bindings]


def test_register_accepts_a_parsed_template_and_rejects_bad_text() -> None:
    matcher: PathMatcher[str] = PathMatcher()
    assert matcher.register("GET", parse_template("/v1/{x}"), "parsed")
    assert not matcher.register("GET", "/v1/{x", "broken")
    assert _target(matcher, "/v1/abc") == "parsed"


def test_duplicate_answers_nothing_and_can_fail_registration() -> None:
    lenient: PathMatcher[int] = PathMatcher()
    assert lenient.register("GET", "/a/{x}", 1)
    assert lenient.register("GET", "/a/{y}", 2)  # same segments: a duplicate
    assert lenient.lookup("GET", "/a/b") is None
    assert lenient.allowed_methods("/a/b") == set()
    strict: PathMatcher[int] = PathMatcher(MatcherOptions(fail_registration_on_duplicate=True))
    assert strict.register("GET", "/a/{x}", 1)
    assert not strict.register("GET", "/a/{x}", 2)


def test_path_without_leading_slash_never_matches() -> None:
    # HJT drops the first character blindly; a request target without "/" is simply not a path.
    matcher: PathMatcher[str] = PathMatcher()
    matcher.register("GET", "/**", "all")
    assert matcher.lookup("GET", "x/a") is None
    assert matcher.lookup("GET", "") is None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("all_characters_except_reserved", "a%2Fb/c d%3A"),
        ("all_characters_except_slash", "a%2Fb/c d:"),
        ("all_characters", "a/b/c d:"),
    ],
)
def test_multi_segment_unescape_spec(spec: Any, expected: str) -> None:
    matcher: PathMatcher[str] = PathMatcher(MatcherOptions(url_unescape_spec=spec))
    matcher.register("GET", "/v1/{path=**}", "t")
    match = matcher.lookup("GET", "/v1/a%2Fb/c%20d%3A")
    assert match is not None and match.bindings == [(("path",), expected)]


def test_unknown_unescape_spec_is_rejected() -> None:
    with pytest.raises(ValueError, match="url_unescape_spec"):
        MatcherOptions(url_unescape_spec="none")  # type: ignore[arg-type]


def test_percent_decoding_of_utf8_and_malformed_escapes() -> None:
    assert percent_decode("caf%C3%A9") == "café"
    assert percent_decode("100%") == "100%"
    assert percent_decode("%zz%4") == "%zz%4"
    with pytest.raises(PercentDecodingError):
        percent_decode("%FF")


def test_parse_query_follows_hjt() -> None:
    assert parse_query("a=1&&b&=2&c=&d.e=x%26y&a=3") == [
        ("a", "1"), ("c", ""), ("d.e", "x&y"), ("a", "3")
    ]
    assert parse_query("q=a+b%2B") == [("q", "a+b+")]
    assert parse_query("q=a+b%2B", unescape_plus=True) == [("q", "a b+")]
    assert parse_query("key=s&x=1", system_params=frozenset({"key"})) == [("x", "1")]
    assert parse_query("") == []


def _target(matcher: PathMatcher[str], path: str, method: str = "GET") -> str | None:
    match = matcher.lookup(method, path)
    return None if match is None else match.target


def test_a_query_value_that_is_not_utf8_names_its_parameter_never_its_value() -> None:
    with pytest.raises(PercentDecodingError) as caught:
        parse_query("ok=1&api_key=egk_secret%FF")
    assert caught.value.name == "api_key"
    assert "secret" not in str(caught.value)
