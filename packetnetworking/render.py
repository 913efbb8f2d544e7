"""Jinja2, set up once: strict about undefined names, no autoescaping (not HTML).

Lexing, parsing and compiling the templates costs a run more than rendering them, so
the zipapp ships them compiled to Python modules (``compile_into``, called by
packaging/build_pyz.py with the same settings) and loads them with Jinja2's
ModuleLoader. A checkout has no compiled templates and reads the sources.
"""

from __future__ import annotations

import importlib
import os
from typing import Optional

import jinja2

COMPILED = os.path.join(os.path.dirname(__file__), "_compiled_templates")

_env = None


def _template_dirs() -> list[str]:
    # distros/ is installed as packetnetworking.distros but lives at the top of the
    # source tree: ask the import system where it is rather than guessing.
    distros = importlib.import_module("packetnetworking.distros")
    return [os.path.join(os.path.dirname(__file__), "templates")] + [
        os.path.join(p, "templates") for p in distros.__path__
    ]


def _new_environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates do not change during a run: no stat of the source on every lookup
        # (a builder that renders one file per NIC looks the same template up each time).
        auto_reload=False,
    )


def source_environment() -> jinja2.Environment:
    """An environment that reads and compiles the template sources."""
    return _new_environment(jinja2.FileSystemLoader(_template_dirs()))


def environment() -> jinja2.Environment:
    global _env
    if _env is None:
        if os.path.isdir(COMPILED):
            _env = _new_environment(jinja2.ModuleLoader(COMPILED))
        else:
            _env = source_environment()
    return _env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)


def compile_into(target: Optional[str] = None) -> list[str]:
    """Compile every template into modules under target (default COMPILED); returns
    the names. A syntax error raises rather than leaving the template out."""
    env = source_environment()
    env.compile_templates(os.fspath(target or COMPILED), zip=None, ignore_errors=False)
    return env.list_templates()
