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
            print(f"{len(problems)} generated file(s) out of step with source/: run `course build`", file=sys.stderr)
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
    from .grading.runner import grade, render_table, write_json

    week = course.week(week_name)
    only = [c.strip() for c in args.only.split(",") if c.strip()] if args.only else None
    report = grade(course, week, submission, only=only, device=args.device)
    render_table(report)
    if args.json:
        write_json(report, args.json)
    return 0


def cmd_grade(args) -> int:
    return _grade(load_course(args.root), args.week, args.submission, args)


def cmd_check(args) -> int:
    course = load_course(args.root)
    return _grade(course, args.week, str(course.path("exercises", args.week)), args)


def default_device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course", description="Build, check and grade the LLM-from-scratch course.")
    p.add_argument("--root", help="course folder (default: the one holding course_config.py)")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="generate exercises/, solutions/ and the notebooks from source/")
    b.add_argument("weeks", nargs="*", help="weeks to build (default: all)")
    b.add_argument("--check", action="store_true", help="change nothing; fail and name every stale or missing file")
    b.set_defaults(func=cmd_build)

    def grading_options(g):
        g.add_argument("--json", metavar="FILE", help="also write the results as JSON (Gradescope's fields)")
        g.add_argument("--only", metavar="CHECKS", help="comma-separated check names to run")
        g.add_argument("--device", default=default_device(), help="torch device for the checks (default: cuda if present)")

    g = sub.add_parser("grade", help="grade a submission folder with the hidden suite")
    g.add_argument("week")
    g.add_argument("--submission", required=True, metavar="DIR", help="folder holding the week's .py files")
    grading_options(g)
    g.set_defaults(func=cmd_grade)

    c = sub.add_parser("check", help="grade your own exercises/WEEK folder")
    c.add_argument("week")
    grading_options(c)
    c.set_defaults(func=cmd_check)
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
