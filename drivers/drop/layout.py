"""Moved to ``turnkey.layout`` (pure data); this re-export stays only while bench/drain.py imports it from here."""

from turnkey.layout import Layout, check_name

__all__ = ["Layout", "check_name"]
