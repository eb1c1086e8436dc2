"""DRF's JSON parser with a bound on nesting (portal.jsondepth): a body nested past it is a
400 `parse_error`, never a 500."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from portal.jsondepth import MAX_DEPTH, TooDeep, check_depth


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return check_depth(super().parse(stream, media_type, parser_context))
        except (RecursionError, TooDeep):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels") from None
