"""Route HTTP requests to registered path templates, the way grpc-httpjson-transcoding does.

Templates are compiled into a trie keyed by segment. A lookup walks it depth first, trying at
every level the literal child first, then `*`, then `**`, and backtracking when a branch does
not end in a route for the request's method: the most specific template wins, as in HJT's
PathMatcherNode. `**` swallows segments until the literal segments after it match the rest of the
path; that part is a loop, not recursion, so a path of 64,000 empty segments does not exhaust
the stack.

Percent-decoding (HJT's UrlUnescapeString): literal segments are compared undecoded; a variable
bound to one segment is fully decoded (`%2F` becomes `/`); a variable spanning several segments,
or any `**` variable, keeps the characters named by `url_unescape_spec` encoded so that the
segment structure survives. `+` is never a space in a path. Query values are fully decoded, `+`
only when `query_param_unescape_plus` is set; query names are used as they are, like HJT.

A custom verb (`/v1/things/x:cancel`) is only split off when some registered template uses that
verb (or `match_unregistered_custom_verb` is set); otherwise `:cancel` is part of the segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, Literal, TypeVar

from .template import (
    MULTI_WILDCARD,
    SINGLE_WILDCARD,
    Template,
    TemplateError,
    Variable,
    parse_template,
)

T = TypeVar("T")

UrlUnescapeSpec = Literal[
    "all_characters_except_reserved", "all_characters_except_slash", "all_characters"
]
FieldPath = tuple[str, ...]
Binding = tuple[FieldPath, str]

# RFC 6570 reserved characters: kept %-encoded in multi-segment variables by default.
_RESERVED = frozenset(b"!#$&'()*+,/:;=?@[]")
_KEPT_ENCODED: Mapping[str, frozenset[int]] = MappingProxyType({
    "all_characters_except_reserved": _RESERVED,
    "all_characters_except_slash": frozenset(b"/"),
    "all_characters": frozenset(),
})
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_ANY_METHOD = "*"


class PercentDecodingError(ValueError):
    """A percent-decoded path variable or query value is not UTF-8 text (answer 400).

    The message never quotes the value: a query value may be a credential. `name` is the
    query parameter's name ("" for a path variable).
    """

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True, slots=True)
class MatcherOptions:
    """The PathMatcherBuilder settings of grpc-httpjson-transcoding."""

    url_unescape_spec: UrlUnescapeSpec = "all_characters_except_reserved"
    query_param_unescape_plus: bool = False
    match_unregistered_custom_verb: bool = False
    fail_registration_on_duplicate: bool = False
    # Query parameters that are not request fields (e.g. API keys): left out of the bindings.
    system_params: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.url_unescape_spec not in _KEPT_ENCODED:
            raise ValueError(f"unknown url_unescape_spec {self.url_unescape_spec!r}, "
                             f"expected one of {sorted(_KEPT_ENCODED)}")


def percent_decode(text: str, spec: UrlUnescapeSpec = "all_characters",
                   unescape_plus: bool = False) -> str:
    """Decode `%XX` escapes except those `spec` keeps; malformed escapes stay as they are."""
    if unescape_plus:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    kept = _KEPT_ENCODED[spec]

    def unescape(escape: re.Match[bytes]) -> bytes:
        byte = int(escape[1], 16)
        return escape[0] if byte in kept else bytes((byte,))

    raw = _ESCAPE.sub(unescape, text.encode())
    try:
        return raw.decode()
    except UnicodeDecodeError as err:
        raise PercentDecodingError("its %-escapes do not decode to UTF-8 text") from err


def parse_query(query: str, *, unescape_plus: bool = False,
                system_params: frozenset[str] = frozenset(),
                skip_undecodable: bool = False) -> list[tuple[str, str]]:
    """Split a raw query string into (name, decoded value) pairs, in order, as HJT reads it.

    Parameters without `=` or with an empty name are dropped; names are not decoded. A
    value whose %-escapes are not UTF-8 raises PercentDecodingError, or with
    `skip_undecodable` is left out (to read the other parameters of a refused request).
    """
    pairs: list[tuple[str, str]] = []
    for param in query.split("&"):
        equals = param.find("=")
        if equals <= 0:
            continue
        name = param[:equals]
        if name not in system_params:
            try:
                value = percent_decode(param[equals + 1:], "all_characters", unescape_plus)
            except PercentDecodingError as err:
                if skip_undecodable:
                    continue
                raise PercentDecodingError(str(err), name) from err
            pairs.append((name, value))
    return pairs


@dataclass(slots=True)
class Match(Generic[T]):
    """The route a request matched, with its variable bindings in HJT's order."""

    target: T
    template: Template
    path_bindings: tuple[Binding, ...]
    query: str
    options: MatcherOptions = field(repr=False, compare=False)
    _query_bindings: list[Binding] | None = field(default=None, init=False, repr=False,
                                                   compare=False)

    @property
    def query_bindings(self) -> list[Binding]:
        """Query parameters as bindings (dotted name split into a field path).

        Parsed on first use: most callers read the query themselves (parse_query).
        """
        if self._query_bindings is None:
            pairs = parse_query(self.query, unescape_plus=self.options.query_param_unescape_plus,
                                system_params=self.options.system_params)
            self._query_bindings = [(tuple(name.split(".")), value) for name, value in pairs]
        return self._query_bindings

    @property
    def bindings(self) -> list[Binding]:
        """Path variables first (template order), then query parameters (query order)."""
        return [*self.path_bindings, *self.query_bindings]


@dataclass(frozen=True, slots=True)
class _Route(Generic[T]):
    template: Template
    target: T
    # Set when the same method, verb and segments were registered twice: HJT then answers
    # nothing rather than guess which registration was meant.
    ambiguous: bool = False


@dataclass(slots=True)
class _Node(Generic[T]):
    literals: dict[str, _Node[T]] = field(default_factory=dict)
    star: _Node[T] | None = None
    double_star: _Node[T] | None = None
    # Reached through `**`: keeps swallowing segments until its literal children match.
    swallows: bool = False
    routes: dict[tuple[str, str], _Route[T]] = field(default_factory=dict)

    def child(self, segment: str) -> _Node[T]:
        if segment == SINGLE_WILDCARD:
            self.star = self.star or _Node()
            return self.star
        if segment == MULTI_WILDCARD:
            self.double_star = self.double_star or _Node(swallows=True)
            return self.double_star
        return self.literals.setdefault(segment, _Node())

    def route(self, method: str, verb: str) -> _Route[T] | None:
        return self.routes.get((method, verb)) or self.routes.get((_ANY_METHOD, verb))


# (segments, custom verb or "", raw query)
_RequestPath = tuple[list[str], str, str]


class PathMatcher(Generic[T]):
    """Registered (method, template) → target routes; lookups answer the most specific one."""

    def __init__(self, options: MatcherOptions | None = None) -> None:
        self.options = options or MatcherOptions()
        self._root: _Node[T] = _Node()
        self._verbs: set[str] = set()
        self._methods: set[str] = set()

    def register(self, http_method: str, template: str | Template, target: T) -> bool:
        """Add a route. False for an invalid template, or a duplicate when the options say so.

        Pass a parsed Template (parse_template) to get the reason a template is invalid.
        """
        if isinstance(template, str):
            try:
                template = parse_template(template)
            except TemplateError:
                return False
        node = self._root
        for segment in template.segments:
            node = node.child(segment)
        key = (http_method, template.verb)
        if key in node.routes:
            node.routes[key] = _Route(template, target, ambiguous=True)
            if self.options.fail_registration_on_duplicate:
                return False
        else:
            node.routes[key] = _Route(template, target)
        self._methods.add(http_method)
        if template.verb:
            self._verbs.add(template.verb)
        return True

    def lookup(self, http_method: str, path_and_query: str) -> Match[T] | None:
        """The route for a request target (`/path?query`), or None when nothing matches.

        The target is the raw, still percent-encoded text of the request line. Escapes decode
        to UTF-8, and non-ASCII characters are taken as themselves, so raw bytes should be
        decoded as UTF-8 (not Latin-1) by the caller. Raises PercentDecodingError (400) when a
        bound path variable does not decode to UTF-8 text.
        """
        request = self._split(path_and_query)
        if request is None:
            return None
        parts, verb, query = request
        route = _find(self._root, parts, 0, http_method, verb)
        if route is None or route.ambiguous:
            return None
        bindings = self._bind_path(route.template.variables, parts)
        return Match(route.target, route.template, bindings, query, self.options)

    def allowed_methods(self, path: str) -> set[str]:
        """Methods with a route for this path (for 405 + Allow); `*` if one accepts any method."""
        request = self._split(path)
        if request is None:
            return set()
        parts, verb, _ = request
        return {
            method for method in self._methods
            if (route := _find(self._root, parts, 0, method, verb)) is not None
            and not route.ambiguous
        }

    def _split(self, path_and_query: str) -> _RequestPath | None:
        path, _, query = path_and_query.partition("?")
        if not path.startswith("/"):
            return None
        verb = ""
        colon = path.rfind(":")
        if colon > path.rfind("/"):
            candidate = path[colon + 1:]
            if self.options.match_unregistered_custom_verb or candidate in self._verbs:
                verb, path = candidate, path[:colon]
        parts = path[1:].split("/")
        while parts and not parts[-1]:
            parts.pop()  # trailing slashes do not make a segment, as in HJT
        return parts, verb, query

    def _bind_path(self, variables: tuple[Variable, ...], parts: list[str]) -> tuple[Binding, ...]:
        return tuple(
            (variable.field_path, self._bind_variable(variable, parts)) for variable in variables
        )

    def _bind_variable(self, variable: Variable, parts: list[str]) -> str:
        start, end = variable.start_segment, variable.end_segment
        if end < 0:
            end += len(parts) + 1
        if variable.end_segment >= 0 and end - start == 1:
            return percent_decode(parts[start])  # one segment: nothing to keep encoded
        spec = self.options.url_unescape_spec
        return "/".join([percent_decode(part, spec) for part in parts[start:end]])


def _find(node: _Node[T], parts: list[str], index: int, method: str,
          verb: str) -> _Route[T] | None:
    """HJT's LookupPath: literal, then `*`, then `**`, backtracking; `**` swallows iteratively."""
    count = len(parts)
    while True:
        if index == count:
            found = node.route(method, verb)
            if found is None and node.double_star is not None:
                found = node.double_star.route(method, verb)  # `**` matching no segment
            return found
        literal = node.literals.get(parts[index])
        if literal is not None:
            found = _find(literal, parts, index + 1, method, verb)
            if found is not None:
                return found
        if not node.swallows:
            break
        index += 1
    for wildcard in (node.star, node.double_star):
        if wildcard is not None:
            found = _find(wildcard, parts, index + 1, method, verb)
            if found is not None:
                return found
    return None
