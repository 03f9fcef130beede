"""How long a week's hidden suite takes on one submission.

    python benchmarks/week_suite.py [WEEK ...] [--submission DIR] [--repeat N] [--device cpu|cuda]

Grades the submission (default: the reference solution) N times with the real
grader and prints the median wall time of the whole run and of each check,
plus the time before the first check (grader start-up, the submission's process
starting and importing torch).
"""

import argparse
import statistics
import time

import torch

from coursekit.config import load_course
from coursekit.grading.runner import grade


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weeks", nargs="*", help="weeks to time (default: every week)")
    p.add_argument("--submission", default=None, help="(with one week) the folder to grade")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    course = load_course()
    weeks = args.weeks or list(course.weeks)
    if args.submission and len(weeks) != 1:
        p.error("--submission goes with one week")
    print(f"device: {args.device}, torch threads in the grader: {torch.get_num_threads()}, runs: {args.repeat}")
    for name in weeks:
        time_week(course, course.week(name), args)


def time_week(course, week, args):
    submission = args.submission or str(course.path("solutions", week.name))
    walls, per_check = [], {}
    for _ in range(args.repeat):
        start = time.perf_counter()
        report = grade(course, week, submission, device=args.device)
        walls.append(time.perf_counter() - start)
        assert report.score == report.max_score or args.submission, "the reference should earn full marks"
        for t in report.tests:
            per_check.setdefault(t.name, []).append(t.seconds)
    checks_total = sum(statistics.median(v) for v in per_check.values())
    print(f"\n{week.name} ({week.title}): {submission}")
    print(f"{'check':28s} {'median s':>9s}")
    for name, times in per_check.items():
        print(f"{name:28s} {statistics.median(times):9.2f}")
    print(f"{'sum of checks':28s} {checks_total:9.2f}")
    print(f"{'whole run (wall)':28s} {statistics.median(walls):9.2f}  (min {min(walls):.2f}, max {max(walls):.2f})")


if __name__ == "__main__":
    main()
