"""The Week 2 hidden grading suite, judged on submissions whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- a half-done submission earns exactly the points of its finished parts;
- each classic bug in tests/submissions/week2/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks.
"""

import pytest
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission, scores

pytestmark = pytest.mark.xdist_group("test_week2_grading")  # one xdist worker runs the whole file

WEEK = "week2"
LN_CHECKS = ["ln_matches_builtin", "ln_module", "ln_gradients", "ln_numerical_stability", "ln_large_eps"]


BUGS, CORRECT = classic_cases(WEEK)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("week2-submissions")
    jobs, names = [], []

    def add(name, submission, only=None):
        names.append(name)
        jobs.append({"week": WEEK, "submission": str(submission), "only": only})

    add("reference", ROOT / "solutions" / WEEK)
    add("stubs", ROOT / "exercises" / WEEK)
    # layer_norm.py done; batch_norm.py and residual.py still stubs.
    stubs = {name: (ROOT / "exercises" / WEEK / f"{name}.py").read_text() for name in ("batch_norm", "residual")}
    add("half_done", make_submission(tmp / "half_done", week=WEEK, overlay={f"{n}.py": t for n, t in stubs.items()}))
    for name, case in BUGS.items():
        add(f"bug:{name}", make_submission(tmp / name, week=WEEK, overlay=case["dir"]), only=case["must_fail"])
    for name, case in CORRECT.items():
        add(f"correct:{name}", make_submission(tmp / name, week=WEEK, overlay=case["dir"]))
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


def test_half_done_earns_partial_credit(graded, course):
    report = graded["half_done"]
    checks = course.week(WEEK).checks
    assert report["score"] == sum(checks[c].points for c in LN_CHECKS)
    for name, t in scores(report).items():
        assert (t["status"] == "passed") == (name in LN_CHECKS), t


def test_there_are_classic_bugs_and_correct_variants():
    assert len(BUGS) >= 20 and len(CORRECT) >= 3


@pytest.mark.parametrize("name", sorted(BUGS))
def test_classic_bug_is_caught(graded, name):
    report = graded[f"bug:{name}"]
    assert "error" not in report, report
    assert set(scores(report)) == set(BUGS[name]["must_fail"])
    for check, t in scores(report).items():
        assert t["score"] == 0 and t["status"] == "failed", f"{name}: {check} should fail: {t}"
        assert t["output"] and "\n" not in t["output"]


def test_every_hidden_check_is_failed_by_some_classic_bug(course):
    caught = {check for case in BUGS.values() for check in case["must_fail"]}
    assert set(course.week(WEEK).checks) - caught == set()


def test_builtin_norms_earn_nothing_for_their_part(graded):
    for name, word in [
        ("ln_uses_builtin", "layer_norm"),
        ("bn_uses_builtin", "batch_norm"),
        ("residual_builtin_layer_norm", "LayerNorm"),
    ]:
        reasons = [t["output"] for t in scores(graded[f"bug:{name}"]).values()]
        assert any(f"uses torch's built-in {word}" in r or word in r for r in reasons), (name, reasons)


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_variant_earns_full_marks(graded, name):
    report = graded[f"correct:{name}"]
    failed = {t["name"]: t["output"] for t in report["tests"] if t["status"] != "passed"}
    assert not failed, f"{name}: {failed}"


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week2/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week2", graded)
