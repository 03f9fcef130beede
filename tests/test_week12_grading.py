"""The Week 12 hidden grading suite (LLaMA), judged on submissions whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/week12/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's copy of the copy task (coursekit.grading.week12_toys) equals the
  one students get in training.py.
"""

import importlib.util
import sys

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_week12_grading")  # one xdist worker runs the whole file

WEEK = "week12"
TRAINING = {"train_copy"}
# Training checks take seconds each: run them for these classic bugs only, the other checks for every bug.
TRAIN_BUGS = {"copy_batch_random_half", "train_targets_unshifted"}
# Correct variants whose files the training checks use differently from the reference.
TRAIN_CORRECT = {"correct_training_variant"}


BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or c not in TRAINING]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("week12-submissions")
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
        # A correct variant runs the checks of the modules it replaces (the others are the reference's).
        modules = {path.stem for path in case["dir"].glob("*.py")}
        only = [c for c in checks if CHECK_MODULE[c] in modules and (c not in TRAINING or name in TRAIN_CORRECT)]
        add(f"correct:{name}", make_submission(tmp / name, week=WEEK, overlay=case["dir"]), only=only)
    return dict(zip(names, grade_many(jobs, tmp)))


def _check_modules():
    """Each hidden check's module, from the file of graders/week12 that holds its test."""
    out = {}
    for path in (ROOT / "graders" / WEEK).glob("test_*.py"):
        for line in path.read_text().splitlines():
            if line.startswith("def test_"):
                out[line[len("def test_") : line.index("(")]] = path.stem.removeprefix("test_")
    return out


CHECK_MODULE = _check_modules()


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
    assert len(BUGS) >= 15 and len(CORRECT) >= 3


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


def test_every_check_belongs_to_a_module(course):
    assert set(CHECK_MODULE) == set(course.week(WEEK).checks)
    assert set(CHECK_MODULE.values()) <= set(course.week(WEEK).modules)


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_variant_earns_full_marks(graded, name):
    report = graded[f"correct:{name}"]
    assert report["tests"], name
    failed = {t["name"]: t["output"] for t in report["tests"] if t["status"] != "passed"}
    assert not failed, f"{name}: {failed}"


def _students_module(name):
    """The reference solution's `name`.py, loaded with the week's folder on the path."""
    folder = ROOT / "solutions" / WEEK
    saved = {m: sys.modules.get(m) for m in ("llama", "training")}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"_week12_{name}", folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
        for m, old in saved.items():
            if old is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = old
    return module


def test_grader_task_is_the_students_task():
    from coursekit.grading import week12_toys

    students = _students_module("training")
    for n, seed in ((1, 0), (300, 5)):
        ours = week12_toys.sample_copy(n, torch.Generator().manual_seed(seed))
        theirs = students.sample_copy(n, torch.Generator().manual_seed(seed))
        assert torch.equal(ours, theirs)
    config = students.copy_config()
    for field, value in week12_toys.copy_fields().items():
        assert getattr(config, field) == value, field
    for name in ("N_SYMBOLS", "N_COPY", "SEP", "VOCAB_SIZE", "SEQ_LEN"):
        assert getattr(week12_toys, name) == getattr(students, name), name


def test_toy_copier_slips_as_documented():
    """The copy_accuracy check relies on the toy's greedy copies differing from its teacher-forced ones."""
    from coursekit.grading import week12_toys

    students = _students_module("training")
    seqs = week12_toys.sample_copy(300, torch.Generator().manual_seed(3))
    toy = week12_toys.ToyCopier(5)
    generated = students.copy_accuracy(toy, seqs)
    forced = (toy(seqs[:, :-1])[:, week12_toys.N_COPY :].argmax(-1) == seqs[:, week12_toys.N_COPY + 1 :]).float().mean()
    assert 0.2 < generated < 0.9 and forced.item() - generated > 0.2


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week12/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week12", graded)
