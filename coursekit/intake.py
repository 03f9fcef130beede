"""Turn a collected submission into the module files the hidden suite grades.

A submission folder (`submitted/STUDENT/WEEK/` after `nbgrader collect`)
holds the week's notebook, its `.py` modules, or both. For each exercise
module the grader takes `<module>.py` when present, and otherwise the code of
that module's cells in the notebook:

* cells are assigned to modules by nbgrader's `grade_id` (the build names
  them `<module>-...`); a cell without one belongs to the module above it;
* the notebook's visible test cells and graded-check cells are left out;
* from every cell only definitions are kept: imports, `def`, `class`, and
  assignments to plain names whose value calls nothing but a literal
  constructor. Top-level experiments (printing, plotting, a training run)
  are not graded code, so they neither run in the grader nor cost the
  student their marks;
* a module sees the earlier modules' names, as it did in the notebook
  (`from attention import *` is prepended).

A notebook that cannot be read gives an `IntakeError` with a one-line
reason; repairs (duplicated or missing cell ids) are reported as notes.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .config import Week

TEST_PREFIX = "test-"
SKIPPED_PREFIXES = (TEST_PREFIX, "check-", "graded-checks")
LITERAL_CALLS = {
    "float",
    "int",
    "str",
    "bool",
    "tuple",
    "list",
    "dict",
    "set",
    "frozenset",
    "range",
}
MAX_NOTEBOOK_BYTES = 64 * 2**20
MAGIC = re.compile(r"^\s*[%!]")


class IntakeError(Exception):
    """The submission as a whole cannot be graded; str() is the one-line reason."""


@dataclass
class Intake:
    files: dict[str, str] = field(default_factory=dict)  # "<module>.py" -> code to grade
    origin: dict[str, str] = field(default_factory=dict)  # module -> "file", "notebook" or "missing"
    notes: list[str] = field(default_factory=list)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(str(line) for line in src) if isinstance(src, list) else str(src)


def read_notebook(path: Path) -> tuple[list[dict], list[str]]:
    """The notebook's cells, read leniently; raises IntakeError for what cannot be read."""
    name = path.name
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise IntakeError(f"{name} is {size / 2**20:.0f} MiB, over the {MAX_NOTEBOOK_BYTES // 2**20} MiB limit")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise IntakeError(f"{name} is not a readable notebook: it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise IntakeError(f"{name} is not a readable notebook: invalid JSON at line {exc.lineno} ({exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise IntakeError(f"{name} is not a readable notebook: it has no list of cells")
    cells = [c for c in data["cells"] if isinstance(c, dict)]
    notes = []
    if data.get("nbformat") != 4:
        notes.append(f"{name}: nbformat {data.get('nbformat')!r}, read as version 4")
    ids = [c.get("id") for c in cells]
    if data.get("nbformat_minor", 0) >= 5 and any(not i for i in ids):
        notes.append(f"{name}: {sum(not i for i in ids)} cell(s) without an id; graded by position")
    dup = sorted({i for i in ids if i and ids.count(i) > 1})
    if dup:
        notes.append(f"{name}: duplicated cell id(s) {', '.join(dup[:3])}; each copy graded in notebook order")
    gids = [_grade_id(c) for c in cells]
    dup = sorted({g for g in gids if g and gids.count(g) > 1})
    if dup:
        notes.append(f"{name}: cells copied from {', '.join(dup[:3])}; the later copy wins, as when run top to bottom")
    return cells, notes


def _grade_id(cell: dict) -> str:
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    return gid if isinstance(gid, str) else ""


def _names_only(target: ast.expr) -> bool:
    """`X = ...` or `A, B = ...`: names, never attributes or items of other objects."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_names_only(e) for e in target.elts)
    return isinstance(target, ast.Name)


def _keep(node: ast.stmt) -> bool:
    if isinstance(
        node,
        (
            ast.Import,
            ast.ImportFrom,
            ast.FunctionDef,
            ast.AsyncFunctionDef,
            ast.ClassDef,
        ),
    ):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not all(_names_only(t) for t in targets):
            return False
        calls = [n for n in ast.walk(node.value) if isinstance(n, ast.Call)]
        return all(isinstance(c.func, ast.Name) and c.func.id in LITERAL_CALLS for c in calls)
    return False


def definitions(code: str) -> str | None:
    """The definitions of one cell, in order; None when the cell does not parse."""
    code = "\n".join("# " + line if MAGIC.match(line) else line for line in code.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    lines = code.splitlines()
    kept = []
    for node in tree.body:
        if _keep(node):
            first = node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno
            kept.append("\n".join(lines[first - 1 : node.end_lineno]))
    return "\n\n".join(kept)


def extract_modules(cells: list[dict], week: Week) -> tuple[dict[str, str], list[str]]:
    """module -> code, from the notebook's cells (see the module docstring)."""
    prefixes = {m: m.replace("_", "-") + "-" for m in week.all_modules}
    parts: dict[str, list[str]] = {m: [] for m in week.modules}
    notes = []
    current = week.modules[0]
    for index, cell in enumerate(cells):
        gid = _grade_id(cell)
        owner = next((m for m, p in prefixes.items() if gid.startswith(p)), None)
        if owner:
            current = owner
        if cell.get("cell_type") != "code" or gid.startswith(SKIPPED_PREFIXES) or current in week.provided:
            continue  # provided modules come from the course, not from the notebook
        code = _source(cell)
        kept = definitions(code)
        if kept is None:
            if owner:  # the student's own solution cell: keep it, so the grader names the syntax error
                kept = code
            else:
                notes.append(f"cell {index + 1} does not parse as Python and was skipped")
                continue
        if kept.strip():
            parts[current].append(f"# --- notebook cell {index + 1}{f' ({gid})' if gid else ''}\n{kept}")
    modules = {}
    for i, m in enumerate(week.modules):
        if parts[m]:
            earlier = [*week.provided, *week.modules[:i]]
            imports = "".join(f"from {e} import *  # noqa: F403\n" for e in earlier)
            modules[m] = imports + "\n\n".join(parts[m]) + "\n"
    return modules, notes


def find_notebook(folder: Path, week: Week) -> Path | None:
    preferred = folder / f"{week.name}.ipynb"
    if preferred.is_file():
        return preferred
    others = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    return others[0] if len(others) == 1 else None


def intake(folder: Path, week: Week) -> Intake:
    """The code to grade for each module of `week`, from the submission in `folder`."""
    result = Intake()
    on_disk = {m for m in week.modules if (folder / f"{m}.py").is_file() and not (folder / f"{m}.py").is_symlink()}
    from_notebook: dict[str, str] = {}
    notebook = find_notebook(folder, week) if len(on_disk) < len(week.modules) else None
    if notebook is not None:
        cells, notes = read_notebook(notebook)
        from_notebook, more = extract_modules(cells, week)
        result.notes += notes + more
        if notebook.name != f"{week.name}.ipynb":
            result.notes.append(f"graded {notebook.name} (expected {week.name}.ipynb)")
    for m in week.modules:
        if m in on_disk:
            result.files[f"{m}.py"] = (folder / f"{m}.py").read_text(errors="replace")
            result.origin[m] = "file"
        elif m in from_notebook:
            result.files[f"{m}.py"] = from_notebook[m]
            result.origin[m] = "notebook"
        else:
            result.origin[m] = "missing"
    if not result.files:
        expected = ", ".join([f"{week.name}.ipynb", *week.files])
        raise IntakeError(f"empty submission: none of {expected} holds any code")
    return result


def write(result: Intake, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name, code in result.files.items():
        (dest / name).write_text(code)
    return dest
