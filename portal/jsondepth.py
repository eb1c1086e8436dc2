"""JSON with a bound on nesting, for every place that reads JSON a client sent.

A body like `[[[[...]]]]` 100,000 levels deep makes the json module raise RecursionError, which
is not a ValueError, so parsers that catch ValueError answer 500; and a body just shallow enough
to parse can overflow the stack later, in a serializer or a renderer. No input of ours is deeper
than a few levels. Django-free.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class TooDeep(ValueError):
    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


def check_depth(value: Any, limit: int = MAX_DEPTH) -> Any:
    """`value`, or TooDeep when lists and objects nest deeper than `limit`."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise TooDeep
        stack.extend((child, depth + 1) for child in children)
    return value


def loads(text: str | bytes) -> Any:
    """json.loads that raises ValueError (TooDeep) for nesting past MAX_DEPTH, never
    RecursionError."""
    try:
        return check_depth(json.loads(text))
    except RecursionError:
        raise TooDeep from None
