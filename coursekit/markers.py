"""nbgrader's solution markers in plain Python files.

A source file marks each piece of the answer with

    ### BEGIN SOLUTION
    ...reference code...
    ### END SOLUTION

`strip_markers` gives the reference solution (marker lines removed) and
`make_stub` the student's version (each marked region replaced by a TODO that
raises NotImplementedError naming the function to write), the same transform
nbgrader's ClearSolutions applies to notebook cells.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")
_CLASS = re.compile(r"^(\s*)class\s+(\w+)")


class MarkerError(ValueError):
    pass


@dataclass(frozen=True)
class Region:
    begin: int  # index of the BEGIN line
    end: int  # index of the END line
    indent: str


def find_regions(lines: list[str], filename: str = "<source>") -> list[Region]:
    regions, begin = [], None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin is not None:
                raise MarkerError(f"{filename}:{i + 1}: nested {BEGIN}")
            begin = i
        elif stripped == END:
            if begin is None:
                raise MarkerError(f"{filename}:{i + 1}: {END} without {BEGIN}")
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            regions.append(Region(begin, i, indent))
            begin = None
    if begin is not None:
        raise MarkerError(f"{filename}:{begin + 1}: {BEGIN} is never closed")
    return regions


def has_solution(text: str) -> bool:
    return any(line.strip() == BEGIN for line in text.splitlines())


def strip_markers(text: str, filename: str = "<source>") -> str:
    """The reference solution: the text with its marker lines removed."""
    lines = text.splitlines(keepends=True)
    drop = set()
    for region in find_regions(lines, filename):
        drop.update((region.begin, region.end))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def enclosing_name(lines: list[str], index: int) -> str | None:
    """`Class.method` or `function` of the definition that encloses line `index`."""
    line = lines[index]
    indent = len(line) - len(line.lstrip())
    names = []
    for j in range(index - 1, -1, -1):
        match = _DEF.match(lines[j]) or _CLASS.match(lines[j])
        if match and len(match.group(1)) < indent:
            names.append(match.group(2))
            indent = len(match.group(1))
            if indent == 0:
                break
    return ".".join(reversed(names)) or None


def solution_text(text: str, filename: str = "<source>") -> list[str]:
    """The lines inside solution regions (what must never reach a student)."""
    lines = text.splitlines()
    return [line for r in find_regions(lines, filename) for line in lines[r.begin + 1 : r.end]]


def make_stub(text: str, filename: str) -> str:
    """The student's version: each solution region becomes a TODO raising NotImplementedError."""
    lines = text.splitlines(keepends=True)
    out, last = [], 0
    for region in find_regions(lines, filename):
        out.extend(lines[last : region.begin])
        name = enclosing_name(lines, region.begin) or "this part"
        message = f"TODO: implement {name} in {filename}"
        out.append(f"{region.indent}# TODO: your code here\n")
        out.append(f"{region.indent}raise NotImplementedError({message!r})\n")
        last = region.end + 1
    out.extend(lines[last:])
    return "".join(out)
