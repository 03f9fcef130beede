"""The Week 4 hidden grading suite (BERT), judged on submissions whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/week4/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's copy of the toy language (coursekit.grading.week4_toys) makes
  exactly the data of the one students get in pretraining.py.
"""

import importlib.util
import sys

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_week4_grading")  # one xdist worker runs the whole file

WEEK = "week4"
TRAINING = {"pretrain_mlm", "finetune_classifier"}
# Training checks take seconds each: run them for these classic bugs only, the other checks for every bug.
TRAIN_BUGS = {"pretrain_unmasked_inputs", "finetune_zero_grad_after_backward"}
# Correct variants whose files the training checks use differently from the reference.
TRAIN_CORRECT = {"correct_pretrain_epochs"}


BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or c not in TRAINING]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("week4-submissions")
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
        only = None if name in TRAIN_CORRECT else [c for c in checks if c not in TRAINING]
        add(f"correct:{name}", make_submission(tmp / name, week=WEEK, overlay=case["dir"]), only=only)
    return dict(zip(names, grade_many(jobs, tmp)))


def scores(report):
    return {t["name"]: t for t in report["tests"]}


def test_reference_earns_full_marks(graded, course):
    report = graded["reference"]
    failed = {t["name"]: t["output"] for t in report["tests"] if t["status"] != "passed"}
    assert not failed
    assert report["score"] == report["max_score"] == course.week(WEEK).max_score


def test_stubs_earn_zero_with_a_todo_reason(graded, course):
    report = graded["stubs"]
    assert report["score"] == 0
    assert len(report["tests"]) == len(course.week(WEEK).checks)
    for t in report["tests"]:
        assert t["status"] == "failed"
        assert t["output"].startswith("TODO: implement"), t


def test_there_are_classic_bugs_and_correct_variants():
    assert len(BUGS) >= 25 and len(CORRECT) >= 3


@pytest.mark.parametrize("name", sorted(BUGS))
def test_classic_bug_is_caught(graded, name):
    report = graded[f"bug:{name}"]
    assert "error" not in report, report
    results = scores(report)
    assert set(results) == set(BUGS[name]["run"])
    for check, t in results.items():
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


def test_grader_language_is_the_students_language():
    from coursekit.grading import week4_toys

    folder = ROOT / "solutions" / WEEK
    saved = {m: sys.modules.get(m) for m in ("attention", "multi_head_attention", "masking", "bert")}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location("_week4_pretraining", folder / "pretraining.py")
        students = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(students)
    finally:
        sys.path.remove(str(folder))
        for m, old in saved.items():
            if old is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = old
    for sample in ("sample_corpus", "sample_classification"):
        ours = getattr(week4_toys, sample)(300, torch.Generator().manual_seed(5))
        theirs = getattr(students, sample)(300, torch.Generator().manual_seed(5))
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), (sample, key)
    config = students.language_config()
    for field, value in week4_toys.config_fields().items():
        assert getattr(config, field) == value, field


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week4/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week4", graded)
