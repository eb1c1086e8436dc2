from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms

from portal.finops import costs


def _figure(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """The command's validation for a form field: blank means "as measured"."""

    def clean(value: str) -> Any:
        if value in ("", None):
            return None
        try:
            return parse(value.strip())
        except costs.FigureError as e:
            raise forms.ValidationError(str(e)) from None

    return clean


class FiguresForm(forms.Form):
    requests_per_month = forms.CharField(
        required=False, label="Requests a month", help_text="blank: as measured"
    )
    avg_ms = forms.CharField(
        required=False, label="Average duration (ms)", help_text="blank: as measured"
    )
    memory_mb = forms.CharField(
        required=False, label="Lambda memory (MB)", help_text="blank: the function's"
    )

    def clean_requests_per_month(self) -> float | None:
        return _figure(costs.parse_requests)(self.cleaned_data["requests_per_month"])

    def clean_avg_ms(self) -> float | None:
        return _figure(costs.parse_avg_ms)(self.cleaned_data["avg_ms"])

    def clean_memory_mb(self) -> int | None:
        return _figure(costs.parse_memory_mb)(self.cleaned_data["memory_mb"])
