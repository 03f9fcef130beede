"""The Week 3 hidden grading suite, judged on submissions whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/week3/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks.
"""

import pytest
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission, scores

pytestmark = pytest.mark.xdist_group("test_week3_grading")  # one xdist worker runs the whole file

WEEK = "week3"
# Training checks take seconds each: run them for this classic bug only, the other checks for every bug.
TRAIN_BUGS = {"targets_not_shifted"}
# Correct variants that change what training runs on: they also run this training check.
TRAIN_CORRECT = {"correct_premade_masks"}


BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or not c.startswith("train_")]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("week3-submissions")
    checks = list(course.week(WEEK).checks)
    jobs, names = [], []

    def add(name, submission, only=None):
        names.append(name)
        jobs.append({"week": WEEK, "submission": str(submission), "only": only, "timeout_cap": None})

    add("reference", ROOT / "solutions" / WEEK)
    add("stubs", ROOT / "exercises" / WEEK)
    for name, case in BUGS.items():
        add(f"bug:{name}", make_submission(tmp / name, week=WEEK, overlay=case["dir"]), only=case["run"])
    for name, case in CORRECT.items():
        only = [c for c in checks if not c.startswith("train_")]
        if name in TRAIN_CORRECT:
            only.append("train_reversal")
        add(f"correct:{name}", make_submission(tmp / name, week=WEEK, overlay=case["dir"]), only=only)
    return dict(zip(names, grade_many(jobs, tmp)))


def test_reference_earns_full_marks(graded, course):
    report = graded["reference"]
    failed = {t["name"]: t["output"] for t in report["tests"] if t["status"] != "passed"}
    assert not failed
    assert report["score"] == report["max_score"] == course.week(WEEK).max_score


def test_stubs_earn_zero_with_a_todo_reason(graded):
    report = graded["stubs"]
    assert report["score"] == 0
    for t in report["tests"]:
        assert t["status"] == "failed"
        assert t["output"].startswith("TODO: implement"), t


def test_there_are_classic_bugs_and_correct_variants():
    assert len(BUGS) >= 15 and len(CORRECT) >= 3


@pytest.mark.parametrize("name", sorted(BUGS))
def test_classic_bug_is_caught(graded, name):
    report = graded[f"bug:{name}"]
    assert "error" not in report, report
    assert set(scores(report)) == set(BUGS[name]["run"])
    for check, t in scores(report).items():
        assert t["score"] == 0 and t["status"] == "failed", f"{name}: {check} should fail: {t}"
        assert t["output"] and "\n" not in t["output"]


def test_every_hidden_check_is_failed_by_some_classic_bug(course):
    caught = {check for case in BUGS.values() for check in case["run"]}
    assert set(course.week(WEEK).checks) - caught == set()


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_variant_earns_full_marks(graded, name):
    report = graded[f"correct:{name}"]
    failed = {t["name"]: t["output"] for t in report["tests"] if t["status"] != "passed"}
    assert not failed, f"{name}: {failed}"


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week3/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week3", graded)
