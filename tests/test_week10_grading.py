"""The Week 10 hidden grading suite (Constitutional AI), judged on submissions whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/week10/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's copies of the task, the policy, its sampler and pretraining, and
  of the principles (coursekit.grading.week10_toys) equal the ones students get
  in policy.py and constitution.py.
"""

import importlib.util
import sys

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_week10_grading")  # one xdist worker runs the whole file

WEEK = "week10"
TRAINING = {"train_cai"}
# Training checks take seconds each: run them for these classic bugs only, the other checks for every bug.
TRAIN_BUGS = {"pairs_swapped", "feedback_revise_same_sample"}
# Correct variants whose files the training checks use differently from the reference.
TRAIN_CORRECT = {"correct_rlaif_pad_sequence"}


BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or c not in TRAINING]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("week10-submissions")
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
    """Each hidden check's module, from the file of graders/week10 that holds its test."""
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
    saved = {m: sys.modules.get(m) for m in ("dpo", "policy", "constitution", "rlaif")}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"_week10_{name}", folder / f"{name}.py")
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


def test_grader_task_and_policy_are_the_students():
    from coursekit.grading import week10_toys as toys

    students = _students_module("policy")
    for name in (
        "PAD",
        "SEP",
        "EOS",
        "REDACT",
        "VOCAB_SIZE",
        "FORBIDDEN",
        "PROMPT_LEN",
        "MAX_NEW_TOKENS",
        "BLOCK_SIZE",
    ):
        assert getattr(toys, name) == getattr(students, name), name
    for n, seed in ((1, 0), (300, 5)):
        ours, theirs = (
            toys.sample_prompts(n, torch.Generator().manual_seed(seed)),
            students.sample_prompts(n, torch.Generator().manual_seed(seed)),
        )
        assert torch.equal(ours, theirs)
        demo = toys.demonstrations(ours, torch.Generator().manual_seed(seed))
        assert torch.equal(demo, students.demonstrations(theirs, torch.Generator().manual_seed(seed)))
        for p, d in zip(ours[:20], demo[:20]):
            assert toys.prompt_words(p) == students.prompt_words(p) and toys.response_tokens(
                d
            ) == students.response_tokens(d)
    assert toys.policy_fields() == {k: getattr(students.PolicyConfig(), k) for k in toys.policy_fields()}
    torch.manual_seed(3)
    ours = toys.Policy(toys.PolicyConfig())
    torch.manual_seed(3)
    theirs = students.Policy(students.PolicyConfig())
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs.state_dict()[key]), key  # the same initialisation
    ids = torch.randint(toys.VOCAB_SIZE, (3, toys.BLOCK_SIZE), generator=torch.Generator().manual_seed(4))
    assert torch.equal(ours(ids), theirs(ids))
    prompts = toys.sample_prompts(50, torch.Generator().manual_seed(6))
    a = toys.sample(ours, prompts, torch.Generator().manual_seed(7))
    assert torch.equal(a, students.sample(theirs, prompts, torch.Generator().manual_seed(7)))
    ours = toys.pretrain_policy(toys.PolicyConfig(), steps=5, seed=2)
    theirs = students.pretrain_policy(students.PolicyConfig(), steps=5, seed=2)
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs.state_dict()[key]), key


def test_grader_principles_are_the_students():
    from coursekit.grading import week10_toys as toys

    students = _students_module("constitution")
    assert [p.name for p in students.spec_constitution()] == toys.SPEC
    assert (toys.MAX_RUN, toys.MAX_LEN) == (students.MAX_RUN, students.MAX_LEN)
    gen = torch.Generator().manual_seed(8)
    for _ in range(300):
        prompt, response = toys.random_prompt(gen), toys.random_response(gen)
        for ours, theirs in zip(toys.grader_constitution(toys.SPEC), students.spec_constitution()):
            assert (ours.critique(prompt, response) is None) == (theirs.critique(prompt, response) is None), ours.name
            assert ours.revise(prompt, response) == theirs.revise(prompt, response), ours.name
        assert toys.task_success(prompt, response) == students.task_success(prompt, response)
        assert toys.violation_count(prompt, response) == len(students.violations(prompt, response))


def test_starting_policy_rates():
    """The starting policy's rates that the training check compares with, measured again."""
    from coursekit.grading import week10_toys as toys

    model = toys.Policy(toys.PolicyConfig())
    model.load_state_dict(toys.start_state())
    held = toys.sample_prompts(toys.HELD_OUT, torch.Generator().manual_seed(toys.HELD_OUT_SEED))
    v, s = toys.rates(model, held, torch.Generator().manual_seed(toys.RATES_SEED))
    assert abs(v - toys.START_VIOLATIONS) <= 0.03 and abs(s - toys.START_SUCCESS) <= 0.03, (v, s)


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week10/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week10", graded)
