"""The course manifest, read from course_config.py at the course root."""

from __future__ import annotations

import os
import runpy
import sysconfig
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

CONFIG_NAME = "course_config.py"


class CourseError(Exception):
    """A problem the user can fix; the CLI prints its message on one line."""


@dataclass(frozen=True)
class Check:
    name: str
    points: float
    timeout: float
    about: str = ""
    visibility: str | None = None  # Gradescope visibility; None: the course default


@dataclass(frozen=True)
class Paper:
    title: str
    authors: str
    year: int
    url: str


@dataclass(frozen=True)
class Week:
    name: str
    title: str
    papers: tuple[Paper, ...]
    modules: tuple[str, ...]
    checks: dict[str, Check] = field(hash=False)
    # Finished modules taken from an earlier week's reference: module -> that week.
    provided: dict[str, str] = field(default_factory=dict, hash=False)
    # Data files from the course's data/ folder, copied next to the week's modules.
    data: tuple[str, ...] = ()
    # Figures (kinds of `course plot`) that the week's notebook draws at its end with the notebook's code.
    plots: tuple[str, ...] = ()

    @property
    def max_score(self) -> float:
        return sum(check.points for check in self.checks.values())

    @property
    def files(self) -> list[str]:
        """The files a student submits for this week."""
        return [f"{module}.py" for module in self.modules]

    @property
    def all_modules(self) -> tuple[str, ...]:
        """The provided modules, then the exercise modules: the order they import each other in."""
        return (*self.provided, *self.modules)


@dataclass(frozen=True)
class Course:
    root: Path
    course_id: str
    weeks: dict[str, Week]
    submission_timeout: float
    nbgrader_config: object = field(hash=False, compare=False)
    gradescope_visibility: str = "after_due_date"
    grading_jobs: int | None = None
    submission_memory_gib: float = 6
    submission_tasks: int = 256

    def week(self, name: str) -> Week:
        if name not in self.weeks:
            known = ", ".join(self.weeks) or "none"
            raise CourseError(f"unknown week {name!r} (course_config.py defines: {known})")
        return self.weeks[name]

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)


def put_scripts_on_path() -> None:
    """Put this interpreter's scripts folder first on PATH.

    nbgrader runs `alembic` by name when it creates a gradebook; in a virtual
    environment used without activating it, that command is not on PATH."""
    scripts = sysconfig.get_path("scripts")
    path = os.environ.get("PATH", "")
    if scripts and scripts not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, path]) if path else scripts


def find_root(start: str | os.PathLike | None = None) -> Path:
    """The course root: $COURSE_ROOT, else the nearest folder upwards with course_config.py,
    else the checkout this package was installed from."""
    env = os.environ.get("COURSE_ROOT")
    if env:
        root = Path(env).resolve()
        if not (root / CONFIG_NAME).is_file():
            raise CourseError(f"COURSE_ROOT={env} has no {CONFIG_NAME}")
        return root
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / CONFIG_NAME).is_file():
        return checkout
    raise CourseError(f"no {CONFIG_NAME} found in {here} or above; run inside the course folder or set COURSE_ROOT")


def _week(name: str, spec: dict) -> Week:
    try:
        checks = {
            check: Check(
                check,
                float(v["points"]),
                float(v["timeout"]),
                v.get("about", ""),
                v.get("visibility"),
            )
            for check, v in spec["checks"].items()
        }
        return Week(
            name=name,
            title=spec["title"],
            papers=tuple(Paper(**p) for p in spec.get("papers", [])),
            modules=tuple(spec["modules"]),
            checks=checks,
            provided=dict(spec.get("provided", {})),
            data=tuple(spec.get("data", ())),
            plots=tuple(spec.get("plots", ())),
        )
    except (KeyError, TypeError) as exc:
        raise CourseError(f"{CONFIG_NAME}: week {name!r} is malformed ({exc!r})") from exc


@cache
def _load(root: Path) -> Course:
    namespace = runpy.run_path(str(root / CONFIG_NAME), run_name="course_config")
    weeks = {name: _week(name, spec) for name, spec in namespace["WEEKS"].items()}
    for week in weeks.values():
        for module, source_week in week.provided.items():
            if source_week not in weeks or module not in weeks[source_week].all_modules:
                raise CourseError(
                    f"{CONFIG_NAME}: {week.name} is provided {module!r} from {source_week!r}, which has no such module"
                )
            if module in week.modules:
                raise CourseError(f"{CONFIG_NAME}: {week.name} lists {module!r} both as provided and as an exercise")
        for name in week.data:
            if Path(name).name != name or not (root / "data" / name).is_file():
                raise CourseError(f"{CONFIG_NAME}: {week.name} needs data file {name!r}, which is not in data/")
    return Course(
        root=root,
        course_id=namespace["COURSE_ID"],
        weeks=weeks,
        submission_timeout=float(namespace.get("SUBMISSION_TIMEOUT", 900)),
        nbgrader_config=namespace["c"],
        gradescope_visibility=namespace.get("GRADESCOPE_VISIBILITY", "after_due_date"),
        grading_jobs=namespace.get("GRADING_JOBS"),
        submission_memory_gib=float(namespace.get("SUBMISSION_MEMORY_GIB", 6)),
        submission_tasks=int(namespace.get("SUBMISSION_TASKS", 256)),
    )


def load_course(root: str | os.PathLike | None = None) -> Course:
    return _load(Path(root).resolve() if root else find_root())
