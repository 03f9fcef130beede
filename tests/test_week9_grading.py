"""The Week 9 hidden grading suite (InstructGPT: SFT, the reward model, PPO and DPO), judged on submissions whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/week9/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's copies of the toy world (coursekit.grading.week9_toys: the
  model, the task, the labeler's score, the sampler) equal the ones students
  get in toy.py, and its RewardModel equals the reference's.
"""

import importlib.util
import sys

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_week9_grading")  # one xdist worker runs the whole file

WEEK = "week9"
TRAINING = {"train_sft", "train_reward_model", "train_ppo", "train_dpo"}
# Training checks take seconds each: run them for these classic bugs only, the other checks for every bug.
TRAIN_BUGS = {"sft_loss_no_shift", "rm_first_token", "ppo_no_kl_penalty", "dpo_sign_flipped"}
# Correct variants whose files the training checks use differently from the reference.
TRAIN_CORRECT = {"correct_ppo_written_out"}


BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or c not in TRAINING]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("week9-submissions")
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
    """Each hidden check's module, from the file of graders/week9 that holds its test."""
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
    saved = {m: sys.modules.get(m) for m in ("toy", "sft", "reward_model", "ppo", "dpo")}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"_week9_{name}", folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
        for m, old in saved.items():
            if old is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = old
    return module


def test_grader_model_is_the_students_model():
    from coursekit.grading import week9_toys

    students = _students_module("toy")
    assert week9_toys.lm_fields() == {k: getattr(students.LMConfig(), k) for k in week9_toys.lm_fields()}
    for cls in ("TinyGPT", "ValueModel"):
        torch.manual_seed(3)
        ours = getattr(week9_toys, cls)(week9_toys.LMConfig())
        torch.manual_seed(3)
        theirs = getattr(students, cls)(students.LMConfig())
        assert ours.state_dict().keys() == theirs.state_dict().keys()
        for key, value in ours.state_dict().items():
            assert torch.equal(value, theirs.state_dict()[key]), key  # the same initialisation
        ids = torch.randint(week9_toys.VOCAB_SIZE, (3, 11), generator=torch.Generator().manual_seed(4))
        assert torch.equal(ours(ids), theirs(ids))


def test_grader_reward_model_is_the_reference():
    from coursekit.grading import week9_toys

    students = _students_module("reward_model")
    torch.manual_seed(5)
    theirs = students.RewardModel(week9_toys.LMConfig())
    ours = week9_toys.RewardModel(week9_toys.LMConfig())
    ours.load_state_dict(theirs.state_dict())
    data = week9_toys.sample_preferences(50, torch.Generator().manual_seed(6))
    for ids in (data["chosen"], data["rejected"], data["chosen"][:, :7]):
        assert torch.equal(ours(ids), theirs(ids))


def test_grader_task_is_the_students_task():
    from coursekit.grading import week9_toys as ours

    theirs = _students_module("toy")
    for name in ("N_DIGITS", "SEP", "PAD", "VOCAB_SIZE", "PROMPT_DIGITS", "PROMPT_LEN", "RESPONSE_LEN", "LARGE"):
        assert getattr(ours, name) == getattr(theirs, name), name
    for n, seed in ((1, 0), (300, 5)):
        assert torch.equal(ours.sample_prompts(n, torch.Generator().manual_seed(seed)),
                           theirs.sample_prompts(n, torch.Generator().manual_seed(seed)))  # fmt: skip
        assert ours.sample_demonstrations(n, torch.Generator().manual_seed(seed)) == theirs.sample_demonstrations(
            n, torch.Generator().manual_seed(seed)
        )
        a = ours.sample_preferences(n, torch.Generator().manual_seed(seed))
        b = theirs.sample_preferences(n, torch.Generator().manual_seed(seed))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert torch.equal(ours.score(a["chosen"]), theirs.score(a["chosen"]))
        assert (ours.score(a["chosen"]) > ours.score(a["rejected"])).all()
    torch.manual_seed(7)
    model = theirs.TinyGPT(theirs.LMConfig())
    prompts = ours.sample_prompts(64, torch.Generator().manual_seed(8))
    ids = ours.generate(model, prompts, ours.RESPONSE_LEN, torch.Generator().manual_seed(9))
    assert torch.equal(ids, theirs.generate(model, prompts, theirs.RESPONSE_LEN, torch.Generator().manual_seed(9)))
    assert torch.equal(ours.token_logprobs(model, ids, 6), theirs.token_logprobs(model, ids, 6))
    reference = theirs.TinyGPT(theirs.LMConfig())
    assert ours.evaluate_policy(model, reference, prompts, torch.Generator().manual_seed(1)) == theirs.evaluate_policy(
        model, reference, prompts, torch.Generator().manual_seed(1)
    )


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week9/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week9", graded)
