"""The chain-of-thought unit's hidden grading suite, judged on submissions whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/bonus_cot/ scores zero on the checks
  it must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's copy of the task (coursekit.grading.bonus_cot_toys) equals the
  one students get in scratchpad.py and experiment.py, and its toy models
  behave as the decoding checks assume.
"""

import importlib.util
import sys

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_bonus_cot_grading")  # one xdist worker runs the whole file

WEEK = "bonus_cot"
TRAINING = {"scratchpad_beats_answer_only"}
# The training check trains two models (seconds each): run it for these classic bugs only, the other checks for all.
TRAIN_BUGS = {"mask_answer_only"}
# Correct variants whose training the training check runs.
TRAIN_CORRECT = {"correct_masked_loss"}


BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or c not in TRAINING]


def _check_modules():
    """Each hidden check's module, from the file of graders/bonus_cot that holds its test."""
    out = {}
    for path in (ROOT / "graders" / WEEK).glob("test_*.py"):
        for line in path.read_text().splitlines():
            if line.startswith("def test_"):
                out[line[len("def test_") : line.index("(")]] = path.stem.removeprefix("test_")
    return out


CHECK_MODULE = _check_modules()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("bonus_cot-submissions")
    checks = list(course.week(WEEK).checks)
    jobs, names = [], []

    def add(name, submission, only=None):
        names.append(name)
        jobs.append({"week": WEEK, "submission": str(submission), "only": only, "timeout_cap": None})

    add("reference", ROOT / "solutions" / WEEK)
    add("stubs", ROOT / "exercises" / WEEK)
    for name, case in BUGS.items():
        if case["run"]:
            add(f"bug:{name}", make_submission(tmp / name, week=WEEK, overlay=case["dir"]), only=case["run"])
    for name, case in CORRECT.items():
        # A correct variant runs the checks of the modules it replaces (the others are the reference's).
        modules = {path.stem for path in case["dir"].glob("*.py")}
        only = [c for c in checks if CHECK_MODULE[c] in modules and (c not in TRAINING or name in TRAIN_CORRECT)]
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
    assert len(BUGS) >= 10 and len(CORRECT) >= 3
    assert TRAIN_BUGS <= set(BUGS) and TRAIN_CORRECT <= set(CORRECT)


@pytest.mark.parametrize("name", sorted(n for n, c in BUGS.items() if c["run"]))
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
    """The reference solution's `name`.py, loaded with the unit's folder on the path."""
    folder = ROOT / "solutions" / WEEK
    saved = {m: sys.modules.get(m) for m in ("gpt", "scratchpad", "experiment")}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"_bonus_cot_{name}", folder / f"{name}.py")
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
    from coursekit.grading import bonus_cot_toys as toys

    students = _students_module("scratchpad")
    for name in ("N_TERMS", "MAX_NUMBER", "THINK", "EQ", "END", "VOCAB_SIZE"):
        assert getattr(toys, name) == getattr(students, name), name
    for n, k, seed in ((1, 8, 0), (300, 8, 5), (20, 3, 6)):
        ours = toys.sample_problems(n, torch.Generator().manual_seed(seed), k)
        theirs = students.sample_problems(n, torch.Generator().manual_seed(seed), k)
        assert torch.equal(ours, theirs)
        for terms in ours.tolist():
            assert toys.last_digit(terms) == students.last_digit(terms)
            for scratchpad in (False, True):
                assert toys.format_example(terms, scratchpad) == students.format_example(terms, scratchpad)
    config = _students_module("experiment").cot_config()
    for field, value in toys.cot_fields().items():
        assert getattr(config, field) == value, field


def test_grader_decoding_is_the_references():
    from coursekit.grading import bonus_cot_toys as toys

    experiment = _students_module("experiment")
    torch.manual_seed(0)
    model = experiment.GPT(experiment.cot_config())
    problems = toys.sample_problems(30, torch.Generator().manual_seed(2))
    for scratchpad in (False, True):
        assert toys.solve(model, problems, scratchpad) == experiment.solve(model, problems, scratchpad)
        for terms in problems.tolist():
            prompt, completion = toys.format_example(terms, scratchpad)
            assert toys.parse_answer(prompt + completion) == toys.last_digit(terms)


def test_toy_models_follow_the_cache_and_the_script():
    from coursekit.grading import bonus_cot_toys as toys

    gpt = _students_module("gpt")
    toy = toys.ToyLM(seed=3)
    idx = torch.randint(toys.VOCAB_SIZE, (3, 7), generator=torch.Generator().manual_seed(1))
    cache = gpt.KVCache()
    full, _ = toy(idx)
    first, _ = toy(idx[:, :4], kv_cache=cache)
    second, _ = toy(idx[:, 4:], kv_cache=cache)
    assert torch.equal(torch.cat([first, second], 1), full) and len(cache) == 7
    changed = idx.clone()
    changed[:, 0] = (changed[:, 0] + 1) % toys.VOCAB_SIZE
    assert not torch.equal(toy(changed)[0][:, -1], full[:, -1]), "the first token matters"
    for scratchpad in (False, True):
        script = toys.ScriptedLM(scratchpad=scratchpad).eval()
        problems = toys.sample_problems(40, torch.Generator().manual_seed(4))
        answers = toys.solve(script, problems, scratchpad)
        expected = []
        for terms in problems.tolist():
            prompt = toys.format_example(terms, scratchpad)[0]
            expected.append(toys.parse_answer(prompt + toys.scripted_completion(terms, scratchpad)))
        assert answers == expected
        assert None in answers and any(
            a is not None and a != toys.last_digit(t) for a, t in zip(answers, problems.tolist())
        )
        with pytest.raises(RuntimeError):
            script.train()(problems[:, :3])


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/bonus_cot/hints.toml gets its own hint when it fails."""
    assert not hint_misses("bonus_cot", graded)
