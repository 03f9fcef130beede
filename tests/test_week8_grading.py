"""The Week 8 hidden grading suite (scaling laws), judged on submissions whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/week8/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's copy of the data (coursekit.grading.week8_toys) encodes Tiny
  Shakespeare exactly as the students' sweep.py does, and counts N as the
  reference does.
"""

import importlib.util
import sys

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_week8_grading")  # one xdist worker runs the whole file

WEEK = "week8"
TRAINING = {"train_model", "sweep_points"}
# Training checks take seconds each: run them for these classic bugs only, the other checks for every bug.
TRAIN_BUGS = {"sweep_eval_on_train", "sweep_total_params", "train_unshifted_targets"}
# Correct variants whose files the training checks use differently from the reference.
TRAIN_CORRECT = {"correct_sweep_constant_lr"}


BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or c not in TRAINING]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("week8-submissions")
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
    assert all(case["run"] for case in BUGS.values()), "every classic bug runs at least one check"


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


def load_solution(module):
    folder = ROOT / "solutions" / WEEK
    saved = {m: sys.modules.get(m) for m in ("power_law", "chinchilla", "model")}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"_week8_{module}", folder / f"{module}.py")
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(folder))
        for m, old in saved.items():
            if old is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = old
    return loaded


def test_grader_data_is_the_students_data():
    from coursekit.grading import week8_toys

    students = load_solution("sweep")
    text = students.load_text(ROOT / "data" / "tinyshakespeare.txt")
    vocab, ids = week8_toys.shakespeare()
    assert students.char_vocab(text) == vocab and len(vocab) == 65
    assert torch.equal(students.encode(text, vocab), ids)
    model = load_solution("model")
    for n_layer, n_head, n_embd in [(1, 1, 8), (2, 2, 32), (3, 4, 48)]:
        gpt = model.GPT(model.GPTConfig(65, 32, n_layer, n_head, n_embd))
        assert students.count_parameters(gpt) == week8_toys.non_embedding_parameters(n_layer, n_embd)


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week8/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week8", graded)
