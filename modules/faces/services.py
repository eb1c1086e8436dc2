"""Workflows of the module: keyword-only functions named <thing>_<action>."""

from __future__ import annotations
