"""The input a Laravel controller sees: the request after Laravel's default middleware.

Every Laravel 10/11 application runs `TrimStrings` and then `ConvertEmptyStringsToNull`
on all input (JSON and form alike, at every depth, list items included): strings lose
their surrounding whitespace, and a string left empty becomes null. So `" call "` is
`call`, `"   "` and `""` are a missing value, and a tenant slug sent with a stray space
still finds its tenant. `TrimStrings` leaves the top-level `current_password`,
`password` and `password_confirmation` alone (its `$except`); keys are never changed.

`clean` works on parsed JSON, so the same function serves the REST codec (as its
`clean_input`) and the gRPC servicer (on the message's JSON form).
"""

from __future__ import annotations

import re
from typing import Any

# TrimStrings' pattern: `~^[\s\x{FEFF}\x{200B}]+|[\s\x{FEFF}\x{200B}]+$~u`. PHP's `u`
# flag makes \s Unicode-aware, as Python's \s is for str.
_SURROUNDING_SPACE = re.compile(r"^[\s\ufeff\u200b]+|[\s\ufeff\u200b]+$")
# TrimStrings::$except, matched against the full dotted key.
_NOT_TRIMMED = frozenset({"current_password", "password", "password_confirmation"})


def trim(text: str) -> str:
    """A string as TrimStrings leaves it."""
    return _SURROUNDING_SPACE.sub("", text)


def clean(value: Any, key: str = "") -> Any:
    """`value` (parsed JSON at dotted `key`) as TrimStrings then ConvertEmptyStringsToNull
    leave it. A new value; the argument is not changed."""
    if isinstance(value, str):
        if key not in _NOT_TRIMMED:
            value = trim(value)
        return None if value == "" else value
    if isinstance(value, dict):
        return {k: clean(v, _join(key, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, _join(key, str(i))) for i, v in enumerate(value)]
    return value


def _join(prefix: str, key: str) -> str:
    # TransformsRequest::cleanArray names nested input `prefix.key`.
    return f"{prefix}.{key}" if prefix else key
