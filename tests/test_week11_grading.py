"""The Week 11 hidden grading suite (LoRA and QLoRA), judged on submissions whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/week11/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's copies of the fine-tuning model, task and pretrained weights, and of NF4's levels
  (coursekit.grading.week11_toys), equal the ones students get in finetune.py and quantize.py.
"""

import importlib.util
import sys

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_week11_grading")  # one xdist worker runs the whole file

WEEK = "week11"
TRAINING = {"finetune_lora"}
# Training checks take seconds each: run them for these classic bugs only, the other checks for every bug.
TRAIN_BUGS = {"finetune_trains_head", "finetune_merges_before_returning"}
# Correct variants whose files the training checks use differently from the reference.
TRAIN_CORRECT = {"correct_finetune_own_loop"}


BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or c not in TRAINING]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("week11-submissions")
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
    """Each hidden check's module, from the file of graders/week11 that holds its test."""
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
    saved = {m: sys.modules.get(m) for m in ("lora", "finetune", "quantize")}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"_week11_{name}", folder / f"{name}.py")
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


def test_grader_model_and_task_are_the_students():
    from coursekit.grading import week11_toys

    students = _students_module("finetune")
    assert (week11_toys.D_IN, week11_toys.HIDDEN, week11_toys.N_CLASSES) == (
        students.D_IN, students.HIDDEN, students.N_CLASSES
    )  # fmt: skip
    assert torch.equal(week11_toys.teacher(), students.teacher())
    torch.manual_seed(3)
    ours = week11_toys.ToyMLP()
    torch.manual_seed(3)
    theirs = students.ToyMLP()
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs.state_dict()[key]), key  # the same initialisation
    for task, seed in (("old", 0), ("new", 5)):
        x, y = week11_toys.sample_task(300, task, torch.Generator().manual_seed(seed))
        x2, y2 = students.sample_task(300, task, torch.Generator().manual_seed(seed))
        assert torch.equal(x, x2) and torch.equal(y, y2)
        assert torch.equal(ours(x), theirs(x))
        assert week11_toys.accuracy(ours, x, y) == students.accuracy(theirs, x, y)
    x = torch.randn(7, week11_toys.D_IN)
    assert torch.equal(week11_toys.rotate(x), students.rotate(x))
    pretrained = students.pretrain().state_dict()
    grader = week11_toys.pretrained_state()
    assert pretrained.keys() == grader.keys()
    for key, value in grader.items():
        assert torch.equal(value, pretrained[key]), key
    model = week11_toys.ToyMLP()
    model.load_state_dict(grader)
    old = week11_toys.sample_task(2000, "old", torch.Generator().manual_seed(9))
    new = week11_toys.sample_task(2000, "new", torch.Generator().manual_seed(9))
    assert week11_toys.accuracy(model, *old) > 0.8 and week11_toys.accuracy(model, *new) < 0.6  # a task to learn


def test_grader_nf4_levels_are_the_students():
    from coursekit.grading import week11_toys

    students = _students_module("quantize")
    assert torch.equal(week11_toys.NF4_LEVELS, students.NF4_LEVELS)
    # QLoRA's appendix E: 16 levels, sorted, an exact 0, -1 and 1 at the ends
    levels = week11_toys.NF4_LEVELS
    assert levels.numel() == 16 and torch.all(levels[1:] > levels[:-1])
    assert levels[0] == -1 and levels[7] == 0 and levels[-1] == 1


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week11/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week11", graded)
