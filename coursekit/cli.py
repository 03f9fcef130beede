"""The `course` command."""

from __future__ import annotations

import argparse
import sys

from .config import CourseError, load_course


def cmd_build(args) -> int:
    from . import build

    course = load_course(args.root)
    weeks = [course.week(w) for w in args.weeks] if args.weeks else list(course.weeks.values())
    if args.check:
        problems = [p for week in weeks for p in build.check(course, week)]
        for p in problems:
            print(p)
        if problems:
            print(
                f"{len(problems)} generated file(s) out of step with source/: run `course build`",
                file=sys.stderr,
            )
            return 1
        print(f"generated files are up to date ({', '.join(w.name for w in weeks)})")
        return 0
    for week in weeks:
        changed = build.write(course, week)
        for line in changed:
            print(line)
        print(f"{week.name}: {len(changed)} file(s) changed")
    return 0


def _grade(course, week_name: str, submission: str, args) -> int:
    import json

    from .grading.runner import grade, render_table, write_json, write_text

    week = course.week(week_name)
    only = [c.strip() for c in args.only.split(",") if c.strip()] if args.only else None
    report = grade(course, week, submission, only=only, device=args.device)
    render_table(report)
    if args.json:
        write_json(report, args.json)
    if args.gradescope:
        write_text(
            args.gradescope,
            json.dumps(report.to_gradescope(week, course.gradescope_visibility), indent=2) + "\n",
        )
    if args.csv:
        write_text(args.csv, report.to_csv())
    return 0


def cmd_grade(args) -> int:
    return _grade(load_course(args.root), args.week, args.submission, args)


def cmd_check(args) -> int:
    course = load_course(args.root)
    return _grade(course, args.week, str(course.path("exercises", args.week)), args)


def _students(value: str | None) -> list[str] | None:
    return [s.strip() for s in value.replace(",", " ").split() if s.strip()] if value else None


def cmd_release(args) -> int:
    from .instructor import release

    course = load_course(args.root)
    week = course.week(args.week)
    release(course, week)
    exchange = course.nbgrader_config.Exchange.root
    print(f"{week.name}: released to {exchange}/{course.course_id}/outbound/{week.name}")
    return 0


def cmd_collect(args) -> int:
    from .instructor import collect, submissions

    course = load_course(args.root)
    week = course.week(args.week)
    collect(course, week)
    found = submissions(course, week)
    print(f"{week.name}: {len(found)} submission(s) in submitted/: {', '.join(found) or 'none'}")
    return 0


def cmd_autograde(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from .instructor import autograde

    course = load_course(args.root)
    week = course.week(args.week)
    outcomes = autograde(
        course,
        week,
        students=_students(args.students),
        force=args.force,
        jobs=args.jobs,
        device=args.device,
        create_students=args.create_students,
    )
    table = Table(title=f"{week.name}: autograde", title_justify="left")
    for column in ("student", "status", "score", "note"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for o in outcomes:
        style = {"graded": "green", "skipped": "dim", "error": "red"}[o.status]
        table.add_row(
            o.student,
            f"[{style}]{o.status}[/]",
            f"{o.score:g}/{o.max_score:g}",
            o.message,
        )
    Console().print(table)
    if not outcomes:
        print(
            f"no collected {week.name} submissions: run `course collect {week.name}` first",
            file=sys.stderr,
        )
    return 1 if any(o.status == "error" for o in outcomes) else 0


def cmd_feedback(args) -> int:
    from .instructor import feedback

    course = load_course(args.root)
    week = course.week(args.week)
    written = feedback(course, week, _students(args.students))
    for folder in written:
        print(f"wrote {folder.relative_to(course.root)}/feedback.md and {week.name}.html")
    return 0


def cmd_export(args) -> int:
    from . import gradebook
    from .grading.runner import write_text

    course = load_course(args.root)
    weeks = [course.week(w) for w in args.weeks] if args.weeks else None
    if weeks is None:
        weeks = gradebook.released_weeks(course)
    table = gradebook.rows(course, weeks)
    text = gradebook.export_csv(table) if args.format == "csv" else gradebook.export_json(table)
    if args.output:
        write_text(args.output, text)
        print(f"wrote {len(table)} row(s) to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def default_device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def cmd_train(args) -> int:
    from pathlib import Path

    from . import train

    course = load_course(args.root)
    overrides = {"max_iters": args.max_iters, "seed": args.seed, "dtype": args.dtype}
    if args.compile:
        overrides["compile"] = True
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key.strip()] = _setting(key.strip(), value)
    try:
        cfg = train.config_from_args(args.preset, overrides)
    except ValueError as exc:
        raise CourseError(str(exc)) from exc
    text_path = Path(args.data) if args.data else course.path("data", "tinyshakespeare.txt")
    if not text_path.is_file():
        raise CourseError(f"no training text at {text_path}")
    code = Path(args.code) if args.code else course.path("solutions", "week6")
    out = Path(args.out) if args.out else course.path("runs", f"gpt-{args.preset}")
    try:
        train.train(cfg, text_path.read_text(encoding="utf-8"), out, code, args.device, progress=not args.quiet)
    except FileNotFoundError as exc:
        raise CourseError(str(exc)) from exc
    return 0


def cmd_plot(args) -> int:
    from pathlib import Path

    from . import plots

    course = load_course(args.root)
    kind = plots.KINDS[args.kind]
    code = Path(args.code) if args.code else course.path("exercises", kind.week)
    out = Path(args.out) if args.out else course.path("plots", f"{args.kind}.png")
    options = {"steps": args.steps} if args.steps and kind.trains else {}
    if args.run:
        if args.kind != "gpt-loss":
            raise CourseError("--run goes with gpt-loss only")
        options["run"] = args.run
    plots.plot(args.kind, code=code, device=args.device, out=out, **options)
    print(f"wrote {out}")
    return 0


def _setting(key: str, value: str):
    """A --set value in the type of the TrainConfig field it sets."""
    from dataclasses import fields

    from .train import TrainConfig

    types = {f.name: f.type for f in fields(TrainConfig)}
    kind = str(types.get(key, "str"))
    try:
        if kind == "bool":
            return value.lower() in ("1", "true", "yes", "on")
        if kind.startswith("int"):
            return None if value.lower() == "none" else int(value)
        if kind == "float":
            return float(value)
    except ValueError as exc:
        raise CourseError(f"--set {key}={value}: not a {kind}") from exc
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course", description="Build, check and grade the LLM-from-scratch course.")
    p.add_argument("--root", help="course folder (default: the one holding course_config.py)")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="generate exercises/, solutions/ and the notebooks from source/")
    b.add_argument("weeks", nargs="*", help="weeks to build (default: all)")
    b.add_argument(
        "--check",
        action="store_true",
        help="change nothing; fail and name every stale or missing file",
    )
    b.set_defaults(func=cmd_build)

    def grading_options(g):
        g.add_argument("--json", metavar="FILE", help="also write the results as JSON")
        g.add_argument(
            "--gradescope",
            metavar="FILE",
            help="also write Gradescope's results.json, with visibility",
        )
        g.add_argument("--csv", metavar="FILE", help="also write the results as CSV")
        g.add_argument("--only", metavar="CHECKS", help="comma-separated check names to run")
        g.add_argument(
            "--device",
            default=default_device(),
            help="torch device for the checks (default: cuda if present)",
        )

    g = sub.add_parser("grade", help="grade a submission folder with the hidden suite")
    g.add_argument("week")
    g.add_argument(
        "--submission",
        required=True,
        metavar="DIR",
        help="folder holding the week's .py files",
    )
    grading_options(g)
    g.set_defaults(func=cmd_grade)

    c = sub.add_parser("check", help="grade your own exercises/WEEK folder")
    c.add_argument("week")
    grading_options(c)
    c.set_defaults(func=cmd_check)

    r = sub.add_parser("release", help="nbgrader generate_assignment and release_assignment for WEEK")
    r.add_argument("week")
    r.set_defaults(func=cmd_release)

    co = sub.add_parser("collect", help="nbgrader collect: the latest submissions into submitted/")
    co.add_argument("week")
    co.set_defaults(func=cmd_collect)

    a = sub.add_parser("autograde", help="grade every collected submission; scores go to the gradebook")
    a.add_argument("week")
    a.add_argument(
        "--students",
        metavar="IDS",
        help="only these students (comma or space separated)",
    )
    a.add_argument("--force", action="store_true", help="grade again what is already graded")
    a.add_argument(
        "--jobs",
        type=int,
        help="submissions graded at once (default: GRADING_JOBS or the CPU count)",
    )
    a.add_argument(
        "--create-students",
        action="store_true",
        help="add unknown students to the gradebook",
    )
    a.add_argument(
        "--device",
        default=default_device(),
        help="torch device for the checks (default: cuda if present)",
    )
    a.set_defaults(func=cmd_autograde)

    f = sub.add_parser("feedback", help="feedback/STUDENT/WEEK/: every check, and why it failed")
    f.add_argument("week")
    f.add_argument("--students", metavar="IDS")
    f.set_defaults(func=cmd_feedback)

    e = sub.add_parser("export", help="the grade table from the gradebook")
    e.add_argument("weeks", nargs="*", help="weeks to export (default: every released week)")
    e.add_argument("--format", choices=["csv", "json"], default="csv")
    e.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    e.set_defaults(func=cmd_export)

    t = sub.add_parser("train", help="the capstone: train Week 6's GPT on Tiny Shakespeare characters")
    t.add_argument("model", choices=["gpt"])
    t.add_argument("--preset", choices=["cpu", "gpu"], default="cpu", help="model size and budget (default: cpu)")
    t.add_argument("--code", metavar="DIR", help="folder with gpt.py, optim.py, sampling.py (default: solutions/week6)")
    t.add_argument("--data", metavar="FILE", help="training text (default: data/tinyshakespeare.txt)")
    t.add_argument("--out", metavar="DIR", help="checkpoint, history, plot and samples (default: runs/gpt-PRESET)")
    t.add_argument("--device", default=default_device(), help="torch device (default: cuda if present)")
    t.add_argument("--max-iters", type=int, help="training steps (default: the preset's)")
    t.add_argument("--seed", type=int)
    t.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], help="autocast (default: auto)")
    t.add_argument("--compile", action="store_true", help="torch.compile the model")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other setting, e.g. --set n_layer=6")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    from .plots import KINDS

    pl = sub.add_parser(
        "plot",
        help="draw a figure with a week's own code: " + ", ".join(KINDS),
        description="\n".join(f"{name} ({kind.week}): {kind.about}" for name, kind in KINDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pl.add_argument("kind", choices=list(KINDS), metavar="KIND", help="one of: " + ", ".join(KINDS))
    pl.add_argument("--code", metavar="DIR", help="folder with the week's modules (default: exercises/WEEK)")
    pl.add_argument("--out", metavar="FILE", help="the PNG to write (default: plots/KIND.png)")
    pl.add_argument("--device", default=default_device(), help="torch device (default: cuda if present)")
    pl.add_argument("--steps", type=int, help="training steps, for the plots that train (default: the plot's own)")
    pl.add_argument("--run", metavar="DIR", help="gpt-loss: plot a `course train gpt` run's history instead")
    pl.set_defaults(func=cmd_plot)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"course: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("course: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
