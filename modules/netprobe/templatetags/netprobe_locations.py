"""Template tags for probing from several locations: which vantages a form may offer."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag
def vantage_names() -> list[str]:
    """The enabled vantages' names (empty when none is registered: the forms hide locations)."""
    from modules.netprobe.quorum import enabled_vantages

    return enabled_vantages()
