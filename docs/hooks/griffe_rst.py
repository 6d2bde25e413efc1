"""Griffe extension: the reST bits of sirp's docstrings, rendered as Markdown by mkdocstrings.

sirp's docstrings are Google style but use two reST habits: roles (``:class:`~sirp.RouterConfig```)
and literal blocks introduced by ``::``. The Google parser leaves both as text, so this extension
rewrites them before parsing: a role becomes inline code (the last dotted part with ``~``, as
Sphinx shows it), and a ``::`` block becomes a fenced code block (Python when it parses, else text).
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|data|obj|exc|const|ref):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    target = match[2].strip()
    return f"`{target.rsplit('.', 1)[-1] if match[1] else target}`"


def _fence(block: list[str], indent: str) -> list[str]:
    code = textwrap.dedent("\n".join(block)).strip("\n")
    try:
        ast.parse(code)
        lang = "python"
    except SyntaxError:
        lang = "text"
    return [f"{indent}```{lang}", *(f"{indent}{line}" if line else "" for line in code.splitlines()), f"{indent}```"]


def rst_to_markdown(text: str) -> str:
    """Roles → inline code; ``::`` literal blocks → fenced code blocks."""
    lines = _ROLE.sub(_role, text).splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.rstrip().endswith("::"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        head = line.rstrip()[:-2].rstrip()
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block_start, block = j, []
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > len(indent)):
            block.append(lines[j])
            j += 1
        if not any(b.strip() for b in block):  # no indented block after all: leave the line as written
            out.append(line)
            i += 1
            continue
        if head:
            out.append(head + ":")
        out.append("")
        out.extend(_fence(block, indent))
        out.append("")
        i = j if j > block_start else block_start
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring (modules, classes, functions, attributes) once it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
