"""Grade several submissions in one process (the kit's tests use this to save start-up time).

    python tests/grade_many.py JOBS.json RESULTS.json

JOBS.json: [{"week": "week1", "submission": DIR, "only": [...] or null, "timeout_cap": s or null}, ...]
RESULTS.json: one entry per job, the report's JSON (or {"error": "..."} when grading could not run).
"""

import json
import sys

from coursekit.config import CourseError, load_course
from coursekit.grading.runner import grade


def main(jobs_path, results_path):
    course = load_course()
    results = []
    for job in json.load(open(jobs_path)):
        try:
            report = grade(
                course, course.week(job["week"]), job["submission"], only=job.get("only"), timeout_cap=job.get("timeout_cap")
            )
            results.append(report.to_json())
        except CourseError as exc:
            results.append({"error": str(exc)})
    json.dump(results, open(results_path, "w"), indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
