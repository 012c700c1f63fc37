"""google.api.HttpRule path templates, parsed once into the form the route matcher compiles.

The grammar is the one in google/api/http.proto:

    Template  = "/" Segments [ Verb ] ;
    Segments  = Segment { "/" Segment } ;
    Segment   = "*" | "**" | LITERAL | Variable ;
    Variable  = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb      = ":" LITERAL ;

The parsed form follows grpc-httpjson-transcoding (HJT) exactly, because the matcher and the
conformance corpus both rely on it: a variable's own sub-pattern is flattened into the
template's segments (`{x}` is `*`), and a variable covers segments [start, end). When a variable
contains `**` its end is stored counted from the end of the request path (-1 = the path's end),
because only the number of segments *after* it is known before a request arrives.

Deliberately stricter than HJT, where HJT accepts text no real API uses: field names must be
identifiers (`[A-Za-z_][A-Za-z0-9_]*`, HJT takes any text up to `.`, `=` or `}`), and literals
may not contain `{` or `}` (HJT reads `/a{b` as the literal `a{b`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NoReturn

SINGLE_WILDCARD = "*"
MULTI_WILDCARD = "**"

# Characters that end a literal segment or a verb. `{` and `}` end it too so that a misplaced
# brace is reported where it is, instead of being swallowed into the literal.
_LITERAL_STOP = frozenset("/:{}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class TemplateError(ValueError):
    """A path template that does not follow the HttpRule grammar."""

    def __init__(self, template: str, position: int, problem: str) -> None:
        super().__init__(f"invalid path template {template!r} at position {position}: {problem}")
        self.template = template
        self.position = position
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Variable:
    """A `{field.path=...}` capture: which template segments it covers."""

    field_path: tuple[str, ...]
    start_segment: int
    # Exclusive. Negative when has_wildcard_path: -1 is the request path's end, -2 one before...
    end_segment: int
    has_wildcard_path: bool


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: `*`/`**`/literal segments, the custom verb ("" if none), variables."""

    text: str
    segments: tuple[str, ...]
    verb: str
    variables: tuple[Variable, ...]


def parse_template(text: str) -> Template:
    """Parse an HttpRule path template; raise TemplateError naming the problem and its position."""
    if text == "/":
        return Template(text, (), "", ())
    parser = _Parser(text)
    parser.parse()
    return Template(
        text=text,
        segments=tuple(parser.segments),
        verb=parser.verb,
        variables=tuple(_anchor_wildcard_ends(parser.variables, len(parser.segments))),
    )


@dataclass(slots=True)
class _OpenVariable:
    field_path: tuple[str, ...]
    start_segment: int
    end_segment: int = -1
    has_wildcard_path: bool = False


@dataclass(slots=True)
class _Parser:
    """Recursive descent over one template; state lives only as long as one parse_template call."""

    text: str
    pos: int = 0
    segments: list[str] = field(default_factory=list)
    segment_positions: list[int] = field(default_factory=list)
    variables: list[_OpenVariable] = field(default_factory=list)
    verb: str = ""

    def parse(self) -> None:
        if self._peek() != "/":
            self._fail("a template must start with '/'")
        self.pos += 1
        self._segments(None)
        if self._peek() == ":":
            self.pos += 1
            self.verb = self._literal("verb")
        if self.pos < len(self.text):
            self._fail(f"unexpected {self.text[self.pos]!r}")
        self._check_only_literals_after_multi_wildcard()

    def _segments(self, variable: _OpenVariable | None) -> None:
        self._segment(variable)
        while self._peek() == "/":
            self.pos += 1
            self._segment(variable)

    def _segment(self, variable: _OpenVariable | None) -> None:
        char = self._peek()
        if char is None:
            self._fail("a template must not end with '/'" if self.text.endswith("/")
                       else "expected a segment")
        if char == "/":
            self._fail("empty segment")
        if char == ":":
            self._fail("empty segment before the verb")
        if char == "{":
            if variable is not None:
                self._fail("nested variables are not allowed")
            self._variable()
        elif char == "*":
            self._wildcard(variable)
        else:
            self._push(self._literal("segment"))

    def _wildcard(self, variable: _OpenVariable | None) -> None:
        start = self.pos
        self.pos += 2 if self.text.startswith(MULTI_WILDCARD, self.pos) else 1
        if self._peek() not in (None, "/", ":", "}"):
            self._fail("'*' and '**' must be whole segments")
        wildcard = self.text[start:self.pos]
        self._push(wildcard, start)
        if wildcard == MULTI_WILDCARD and variable is not None:
            variable.has_wildcard_path = True

    def _variable(self) -> None:
        self.pos += 1  # the "{"
        variable = _OpenVariable(self._field_path(), len(self.segments))
        if self._peek() == "=":
            self.pos += 1
            self._segments(variable)
        else:
            self._push(SINGLE_WILDCARD)  # {x} means {x=*}
        if self._peek() != "}":
            self._fail("expected '}' to close the variable")
        self.pos += 1
        variable.end_segment = len(self.segments)
        self.variables.append(variable)

    def _field_path(self) -> tuple[str, ...]:
        names = [self._identifier()]
        while self._peek() == ".":
            self.pos += 1
            names.append(self._identifier())
        return tuple(names)

    def _identifier(self) -> str:
        found = _IDENT.match(self.text, self.pos)
        if found is None:
            self._fail("expected a field name")
        self.pos = found.end()
        return found.group()

    def _literal(self, what: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _LITERAL_STOP:
            self.pos += 1
        if self.pos == start:
            self._fail(f"empty {what}" if self._peek() in (None, "/", ":", "}")
                       else f"unexpected {self.text[self.pos]!r} in a {what}")
        return self.text[start:self.pos]

    def _push(self, segment: str, position: int | None = None) -> None:
        self.segments.append(segment)
        self.segment_positions.append(self.pos - len(segment) if position is None else position)

    def _check_only_literals_after_multi_wildcard(self) -> None:
        # The matcher finds the end of a `**` by the literals that follow it; a second
        # wildcard after it would make the split ambiguous (HJT rejects it the same way).
        seen_multi = False
        for segment, position in zip(self.segments, self.segment_positions, strict=True):
            if seen_multi and segment in (SINGLE_WILDCARD, MULTI_WILDCARD):
                self.pos = position
                self._fail("only literal segments may follow '**'")
            seen_multi = seen_multi or segment == MULTI_WILDCARD

    def _peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def _fail(self, problem: str) -> NoReturn:
        raise TemplateError(self.text, self.pos, problem)


def _anchor_wildcard_ends(variables: list[_OpenVariable], segment_count: int) -> list[Variable]:
    """Freeze the variables; a `**` variable's end becomes relative to the request path's end."""
    return [
        Variable(
            field_path=v.field_path,
            start_segment=v.start_segment,
            end_segment=(v.end_segment - segment_count - 1) if v.has_wildcard_path
            else v.end_segment,
            has_wildcard_path=v.has_wildcard_path,
        )
        for v in variables
    ]
