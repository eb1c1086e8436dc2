"""Message templates of Events API v2 integrations: what a template may use, and how an
event renders into an alert message, bounded whatever the sender posts."""

from __future__ import annotations

import re
from typing import Any

from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import Lexer, TokenType

from modules.sos.alert_draft import MAX_MESSAGE
from modules.sos.errors import InvalidIntegration

# Tags a message template may use: no {% load %}, {% include %}, {% extends %} or {% debug %}
# (which would reach other templates, tag libraries or the process's modules).
ALLOWED_TAGS = frozenset(
    {
        "if", "elif", "else", "endif", "for", "empty", "endfor", "with", "endwith", "firstof",
        "comment", "endcomment", "spaceless", "endspaceless", "filter", "endfilter", "now",
        "cycle", "ifchanged", "endifchanged", "verbatim", "endverbatim", "templatetag",
    }
)  # fmt: skip
# Filters a template may use: none that pads or repeats text to a size it is given
# (`ljust:"300000000"` took 600 MB), formats numbers to a given precision, or recurses.
ALLOWED_FILTERS = frozenset(
    {
        "add", "capfirst", "cut", "date", "default", "default_if_none", "first", "join",
        "last", "length", "linebreaksbr", "lower", "pluralize", "slice", "striptags", "time",
        "title", "truncatechars", "truncatewords", "upper", "urlencode", "wordcount", "yesno",
    }
)  # fmt: skip
MAX_LOOPS = 2  # {% for %} tags per template: loops nest at most twice over capped lists
ITEMS_MAX = 50  # list items and object keys a template sees (the rest is left out)
VALUE_MAX = 1024  # characters of one text value a template sees (PagerDuty's summary limit)
_FILTER = re.compile(r"\|\s*(\w+)")
# No loaders: nothing outside the template string can be rendered; no autoescape: the message
# goes to SMS and email text, where "&amp;" would be wrong.
_ENGINE = Engine(loaders=[], libraries={}, autoescape=False, debug=False)


def template_check(text: str) -> str:
    """The template, or InvalidIntegration naming the problem (a forbidden tag, bad syntax)."""
    if len(text) > MAX_MESSAGE:
        raise InvalidIntegration(
            f"The message template is longer than {MAX_MESSAGE} characters.",
            details={"field": "message_template"},
        )
    if "\x00" in text:
        raise InvalidIntegration(
            "The message template contains a NUL byte.", details={"field": "message_template"}
        )
    loops = 0
    for token in Lexer(text).tokenize():
        if token.token_type not in (TokenType.BLOCK, TokenType.VAR):
            continue
        words = token.contents.split()
        filters = _FILTER.findall(token.contents)
        if token.token_type == TokenType.BLOCK:
            tag = words[0] if words else ""
            if tag not in ALLOWED_TAGS:
                raise InvalidIntegration(
                    f"The tag {{% {tag} %}} is not allowed in a message template.",
                    details={"field": "message_template"},
                )
            loops += tag == "for"
            if tag == "filter" and len(words) > 1:
                filters += [f.split(":")[0] for f in words[1].split("|")]
        if unknown := sorted({f for f in filters if f not in ALLOWED_FILTERS}):
            raise InvalidIntegration(
                f"The filter {unknown[0]!r} is not allowed in a message template.",
                details={"field": "message_template", "allowed": sorted(ALLOWED_FILTERS)},
            )
    if loops > MAX_LOOPS:
        raise InvalidIntegration(
            f"A message template has at most {MAX_LOOPS} {{% for %}} loops.",
            details={"field": "message_template"},
        )
    try:
        _ENGINE.from_string(text)
    except TemplateSyntaxError as exc:
        raise InvalidIntegration(
            f"The message template is invalid: {exc}", details={"field": "message_template"}
        ) from None
    return text


def _bounded(value: Any, depth: int = 0) -> Any:
    """`value` as a template sees it: ITEMS_MAX items per list or object, VALUE_MAX characters
    per text, three levels; so loops over what a sender posts stay small."""
    if isinstance(value, str):
        return value[:VALUE_MAX]
    if depth >= 3:
        return value if isinstance(value, int | float | bool) or value is None else ""
    if isinstance(value, dict):
        items = list(value.items())[:ITEMS_MAX]
        return {str(k)[:VALUE_MAX]: _bounded(v, depth + 1) for k, v in items}
    if isinstance(value, list):
        return [_bounded(item, depth + 1) for item in value[:ITEMS_MAX]]
    return value


def message_render(template: str, event: dict[str, Any]) -> str:
    """The alert message from the integration's template; the event's summary when the template
    renders nothing or fails. Bounded to the alert message limit."""
    payload = event.get("payload") or {}
    context = {
        "summary": payload.get("summary", ""),
        "source": payload.get("source", ""),
        "severity": payload.get("severity", ""),
        "timestamp": payload.get("timestamp", ""),
        "component": payload.get("component", ""),
        "group": payload.get("group", ""),
        "class": payload.get("class", ""),
        "custom_details": _bounded(payload.get("custom_details")),
        "links": _bounded(event.get("links") or []),
        "images": _bounded(event.get("images") or []),
        "client": event.get("client", ""),
        "client_url": event.get("client_url", ""),
        "dedup_key": event.get("dedup_key", ""),
    }
    try:
        text = _ENGINE.from_string(template).render(Context(context, autoescape=False))
    except Exception:  # a template that fails on this event still pages, with the summary
        text = ""
    text = text.replace("\x00", "").strip() or str(context["summary"]).strip()
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    return text
