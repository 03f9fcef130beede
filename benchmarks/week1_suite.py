"""How long the Week 1 hidden suite takes on one submission.

    python benchmarks/week1_suite.py [--submission DIR] [--repeat N] [--device cpu|cuda]

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
    p.add_argument("--submission", default=None)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    course = load_course()
    week = course.week("week1")
    submission = args.submission or str(course.path("solutions", "week1"))
    walls, per_check = [], {}
    for _ in range(args.repeat):
        start = time.perf_counter()
        report = grade(course, week, submission, device=args.device)
        walls.append(time.perf_counter() - start)
        assert report.score == report.max_score or args.submission, "the reference should earn full marks"
        for t in report.tests:
            per_check.setdefault(t.name, []).append(t.seconds)
    checks_total = sum(statistics.median(v) for v in per_check.values())
    print(f"device: {args.device}, torch threads in the grader: {torch.get_num_threads()}, runs: {args.repeat}")
    print(f"{'check':28s} {'median s':>9s}")
    for name, times in per_check.items():
        print(f"{name:28s} {statistics.median(times):9.2f}")
    print(f"{'sum of checks':28s} {checks_total:9.2f}")
    print(f"{'whole run (wall)':28s} {statistics.median(walls):9.2f}  (min {min(walls):.2f}, max {max(walls):.2f})")


if __name__ == "__main__":
    main()
