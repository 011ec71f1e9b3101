"""The engine one `inkwell` command works with, built from the environment's settings."""

from __future__ import annotations

from engine.bootstrap import Inkwell, bootstrap
from engine.settings import get_settings


def open_app() -> Inkwell:
    """A fresh engine for one command; the command closes it."""
    return bootstrap(get_settings())
