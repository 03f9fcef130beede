"""Build a week's nbgrader source notebook from its Python sources.

The notebook is derived, never edited: a lesson cell from the week's README,
then for each exercise module a heading with the module docstring, its
imports, one cell per top-level definition (an nbgrader solution cell where
the definition holds a solution region, read-only otherwise), and one
read-only cell per visible test function, which learners run to check
themselves.

The grade is not decided in the notebook: test cells run in the student's
own kernel, where anything can be patched. It comes from the week's hidden
suite, run in isolation by `course autograde`. The notebook ends with one
nbgrader *task* cell per hidden check (its name, points and what it checks),
so nbgrader's gradebook has a row for every check; plain `nbgrader autograde`
leaves them for manual grading rather than giving marks it cannot verify.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .config import CourseError
from .markers import has_solution

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


@dataclass(frozen=True)
class Chunk:
    kind: str  # "docstring", "preamble", "def" or "test"
    name: str
    source: str


CHECK_PREFIX = "check-"  # grade_id of the task cell of hidden check NAME: "check-NAME"


def _nbgrader(grade_id: str, *, solution=False, task=False, locked=False, points=None) -> dict:
    meta = {
        "grade": False,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": task,
    }
    if task:
        meta["points"] = points
    return meta


def check_cell_text(check) -> str:
    points = f"{check.points:g} point{'s' if check.points != 1 else ''}"
    return f"**Graded check `{check.name}`** ({points}): {check.about or 'see the lesson'}."


def _is_local_import(node: ast.stmt, local_modules: set[str]) -> bool:
    """`from attention import ...`: in the notebook those names are already defined above."""
    return isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in local_modules


def split_module(text: str, local_modules: set[str]) -> list[Chunk]:
    """Split a module into its docstring, its preamble (imports) and its top-level definitions."""
    tree = ast.parse(text)
    lines = text.splitlines()
    chunks: list[Chunk] = []
    body = list(tree.body)
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        chunks.append(Chunk("docstring", "", first.value.value))
        body = body[1:]
    preamble: list[str] = []
    starts = [(n.decorator_list[0].lineno if getattr(n, "decorator_list", None) else n.lineno) - 1 for n in body]
    for i, node in enumerate(body):
        # A chunk runs up to the next top-level statement, so comments after its last
        # statement (such as a closing solution marker) stay with it.
        stop = starts[i + 1] if i + 1 < len(body) else len(lines)
        segment = "\n".join(lines[starts[i] : stop]).rstrip()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "test" if node.name.startswith("test_") else "def"
            chunks.append(Chunk(kind, node.name, segment))
        elif not _is_local_import(node, local_modules):
            preamble.append(segment)
    if preamble:
        chunks.insert(
            1 if chunks and chunks[0].kind == "docstring" else 0,
            Chunk("preamble", "", "\n".join(preamble)),
        )
    return chunks


GRADED_CHECKS_INTRO = """## Graded checks ({total} points)

Your grade comes from the course's hidden checks, run on the code of this
notebook's definitions (top-level experiments are not run) in a separate,
isolated process. The test cells above are for you: passing them is a good
sign, not a grade. Each check below gives a one-line reason when it fails."""


LOOK_INTRO = """## Look at your model

The cell below draws {what} with the code of this notebook{trains}:

{items}

Each figure is also saved in `plots/` next to this notebook. Until the code a
figure needs is written, the cell stops with the TODO it needs. Outside the
notebook, `course plot KIND` draws the same figures from `exercises/{week}`
(`--code solutions/{week}` for the reference); see `course plot --help`."""

LOOK_IMPORT = """try:
    from coursekit import plots
except ImportError as exc:  # a kernel without the course kit
    raise ImportError("the figures come with the course kit: use the course's .venv kernel (bash setup.sh)") from exc
"""


def look_text(week) -> str:
    """The markdown of the notebook's closing "Look at your model" section."""
    from .plots import KINDS

    unknown = [kind for kind in week.plots if kind not in KINDS]
    if unknown:
        raise CourseError(f"{week.name}: unknown plot(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    items = "\n".join(f"- **{kind}**: {KINDS[kind].about}." for kind in week.plots)
    what = "a figure" if len(week.plots) == 1 else f"{len(week.plots)} figures"
    trains = (
        " (it trains small models first: a minute or two on a CPU)"
        if any(KINDS[kind].trains for kind in week.plots)
        else ""
    )
    return LOOK_INTRO.format(what=what, trains=trains, items=items, week=week.name)


def look_code(week) -> str:
    """The code cell that draws them; the kit's import sits in a `try`, so that grading a
    notebook (which keeps only top-level definitions and imports) never takes it in."""
    calls = "\n".join(f"display(plots.{kind.replace('-', '_')}(code=globals()))" for kind in week.plots)
    return f"{LOOK_IMPORT}\n{calls}"


def build_notebook(
    week, lesson: str, modules: dict[str, str], tests: dict[str, str], provided: set[str] = frozenset()
) -> nbformat.NotebookNode:
    """The nbgrader source notebook for `week`.

    `modules` and `tests` map module names (in teaching order) to the text of
    the source module and of its visible test file; the modules named in
    `provided` are finished code from an earlier week, shown read-only.
    """
    local = set(modules)
    cells = []

    def add(cell, grade_id, **meta):
        cell.id = grade_id
        cell.metadata["nbgrader"] = _nbgrader(grade_id, **meta)
        cells.append(cell)

    add(new_markdown_cell(lesson.strip()), f"{week.name}-lesson", locked=True)
    for module, text in modules.items():
        for chunk in split_module(text, local):
            gid = f"{module}-{chunk.name or chunk.kind}".replace("_", "-")
            if chunk.kind == "docstring":
                title = f"`{module}.py`" + (" (provided, finished)" if module in provided else "")
                add(
                    new_markdown_cell(f"## {title}\n\n{chunk.source.strip()}"),
                    gid,
                    locked=True,
                )
            elif chunk.kind == "def" and has_solution(chunk.source):
                add(new_code_cell(chunk.source), gid, solution=True)
            else:
                add(new_code_cell(chunk.source), gid, locked=True)
        test_text = tests.get(module)
        if test_text is None:
            continue
        add(
            new_markdown_cell(f"### Tests for `{module}.py`"),
            f"test-{module}-heading".replace("_", "-"),
            locked=True,
        )
        for chunk in split_module(test_text, local):
            gid = (chunk.name if chunk.kind == "test" else f"test-{module}-{chunk.kind}").replace("_", "-")
            if chunk.kind == "test":
                add(
                    new_code_cell(f"{chunk.source}\n\n\n{chunk.name}()"),
                    gid,
                    locked=True,
                )
            elif chunk.kind != "docstring":
                add(new_code_cell(chunk.source), gid, locked=True)
    add(
        new_markdown_cell(GRADED_CHECKS_INTRO.format(total=f"{week.max_score:g}")),
        "graded-checks",
        locked=True,
    )
    for check in week.checks.values():
        add(
            new_markdown_cell(check_cell_text(check)),
            CHECK_PREFIX + check.name,
            task=True,
            locked=True,
            points=check.points,
        )
    if week.plots:
        add(new_markdown_cell(look_text(week)), "look-at-your-model", locked=True)
        add(new_code_cell(look_code(week)), "look-at-your-model-plots", locked=True)
    ids = [cell.id for cell in cells]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"{week.name}: two notebook cells would share the id {duplicates[0]!r}")
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def dumps(nb: nbformat.NotebookNode) -> str:
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"
