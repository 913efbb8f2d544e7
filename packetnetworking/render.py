"""Jinja2, set up once: strict about undefined names, no autoescaping (not HTML)."""

from __future__ import annotations

import importlib
from pathlib import Path

import jinja2

_env = None


def _template_dirs() -> list[str]:
    # distros/ is installed as packetnetworking.distros but lives at the top of the
    # source tree: ask the import system where it is rather than guessing.
    distros = importlib.import_module("packetnetworking.distros")
    return [str(Path(__file__).parent / "templates")] + [
        str(Path(p) / "templates") for p in distros.__path__
    ]


def environment() -> jinja2.Environment:
    global _env
    if _env is None:
        _env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_template_dirs()),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)
