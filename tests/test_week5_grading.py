"""The Week 5 hidden grading suite (GPT-1: BPE and a language model), judged on submissions with known grades.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/week5/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's copy of the character vocabulary and of the train/validation
  split (coursekit.grading.week5_toys) equals the one students get in training.py.
"""

import importlib.util
import sys

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_week5_grading")  # one xdist worker runs the whole file

WEEK = "week5"
TRAINING = {"train_char_lm"}
# Training checks take seconds each: run them for these classic bugs only, the other checks for every bug.
TRAIN_BUGS = {"train_no_zero_grad"}
# Correct variants whose files the training checks use differently from the reference.
TRAIN_CORRECT = {"correct_training_stack"}
# The module each check grades: a correct variant runs the checks of the modules it rewrites (the others are the
# reference's files).
MODULE_OF = {"bpe": "bpe", "gpt": "gpt1", "block": "gpt1", "lm": "gpt1", "get": "training", "train": "training"}


BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or c not in TRAINING]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("week5-submissions")
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
        modules = {path.stem for path in case["dir"].glob("*.py")}
        only = [c for c in checks if MODULE_OF[c.split("_")[0]] in modules]
        only = [c for c in only if name in TRAIN_CORRECT or c not in TRAINING]
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


def test_each_check_grades_one_module(course):
    assert all(c.split("_")[0] in MODULE_OF for c in course.week(WEEK).checks)
    assert set(MODULE_OF.values()) == set(course.week(WEEK).modules)


def test_every_hidden_check_is_failed_by_some_classic_bug(course):
    caught = {check for case in BUGS.values() for check in case["run"]}
    assert set(course.week(WEEK).checks) - caught == set()


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_variant_earns_full_marks(graded, name):
    report = graded[f"correct:{name}"]
    failed = {t["name"]: t["output"] for t in report["tests"] if t["status"] != "passed"}
    assert not failed, f"{name}: {failed}"


def test_grader_data_is_the_students_data():
    from coursekit.grading import week5_toys

    folder = ROOT / "solutions" / WEEK
    saved = {m: sys.modules.get(m) for m in ("attention", "multi_head_attention", "bpe", "gpt1")}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location("_week5_training", folder / "training.py")
        students = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(students)
        gpt1 = sys.modules["gpt1"]
    finally:
        sys.path.remove(str(folder))
        for m, old in saved.items():
            if old is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = old
    text = week5_toys.tiny_shakespeare()
    assert text == (folder / "tinyshakespeare.txt").read_text(encoding="utf-8")
    assert week5_toys.split_text(text) == students.split_text(text)
    vocab = students.CharVocab(text)
    assert week5_toys.char_vocab(text) == vocab.chars and vocab.vocab_size == 65
    sample = text[:5000]
    assert torch.equal(week5_toys.encode_chars(sample, vocab.chars), vocab.encode(sample))
    config = gpt1.GPTConfig(**week5_toys.config_fields())
    for field, value in week5_toys.config_fields().items():
        assert getattr(config, field) == value, field


def test_grader_text_is_unicode_without_surrogates():
    from coursekit.grading import week5_toys

    strings = week5_toys.unicode_strings(500, 0)
    assert "" in strings and any(len(s) > 20 for s in strings)
    for s in strings:
        s.encode("utf-8")  # raises on a lone surrogate
    joined = "".join(strings)
    assert any(ord(c) > 0xFFFF for c in joined) and any("\u0300" <= c <= "\u036f" for c in joined)


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week5/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week5", graded)
