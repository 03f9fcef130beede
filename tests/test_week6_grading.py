"""The Week 6 hidden grading suite (GPT-2, the training recipe, sampling and the KV cache), judged on submissions
whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/week6/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's toy language model (coursekit.grading.week6_toys.ToyLM) is a
  faithful stand-in for a GPT: under the reference `generate`, cached and
  uncached generation agree on it, and its positions follow the cache.

Week 6 has no training check (the capstone `course train gpt` trains the
reference), so every check runs for every submission.
"""

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_week6_grading")  # one xdist worker runs the whole file

WEEK = "week6"

BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = list(_case["must_fail"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("week6-submissions")
    jobs, names = [], []

    def add(name, submission, only=None):
        names.append(name)
        jobs.append({"week": WEEK, "submission": str(submission), "only": only, "timeout_cap": None})

    add("reference", ROOT / "solutions" / WEEK)
    add("stubs", ROOT / "exercises" / WEEK)
    for name, case in BUGS.items():
        add(f"bug:{name}", make_submission(tmp / name, week=WEEK, overlay=case["dir"]), only=case["run"])
    for name, case in CORRECT.items():
        add(f"correct:{name}", make_submission(tmp / name, week=WEEK, overlay=case["dir"]))
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
    named = {"optim_decay_layer_norm", "topp_drops_crossing_token", "topp_keeps_one_extra"}
    assert named | {"gpt_cache_positions_restart"} <= set(BUGS), "the classic bugs the week was specified with"


@pytest.mark.parametrize("name", sorted(BUGS))
def test_classic_bug_is_caught(graded, name):
    report = graded[f"bug:{name}"]
    assert "error" not in report, report
    results = scores(report)
    assert results and set(results) == set(BUGS[name]["run"])
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


def load_reference():
    from coursekit.config import load_course
    from coursekit.grading.plugin import load_reference as load

    course = load_course(ROOT)
    return load(course, course.week(WEEK))


def test_toy_model_behaves_like_a_gpt_under_the_reference():
    from coursekit.grading.week6_toys import ToyLM

    ref = load_reference()
    toy = ToyLM(vocab_size=12, block_size=10, seed=3)
    idx = torch.randint(12, (3, 4), generator=torch.Generator().manual_seed(0))
    for kwargs in [dict(temperature=0), dict(temperature=0.8, top_k=5), dict(temperature=1.2, top_p=0.7)]:
        runs = [
            ref.sampling.generate(toy, idx, 12, generator=torch.Generator().manual_seed(1), use_cache=c, **kwargs)
            for c in (True, False)
        ]
        assert torch.equal(*runs), kwargs  # past block_size too (4 + 12 > 10)
    # Its positions follow the cache: chunks through one cache give the logits of one pass.
    cache = ref.gpt.KVCache()
    full, _ = toy(idx)
    first, _ = toy(idx[:, :3], kv_cache=cache)
    second, _ = toy(idx[:, 3:], kv_cache=cache)
    assert torch.equal(torch.cat([first, second], 1), full) and len(cache) == 4
    with pytest.raises(ValueError):
        toy(torch.zeros(1, 11, dtype=torch.long))


def test_random_reference_gpt_is_deterministic_and_float64():
    from coursekit.grading.week6_toys import random_gpt

    ref = load_reference()
    fields = dict(vocab_size=11, block_size=6, n_layer=2, n_head=2, n_embd=8)
    a = random_gpt(ref, torch.Generator().manual_seed(5), **fields)
    b = random_gpt(ref, torch.Generator().manual_seed(5), **fields)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert p.dtype == torch.float64 and torch.equal(p, q), name
    assert a.lm_head.weight is a.transformer.wte.weight


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week6/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week6", graded)
