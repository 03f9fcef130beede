"""The PaLM unit's hidden grading suite (parallel blocks, multi-query attention, the KV cache), judged on
submissions whose grades are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/bonus_palm/ scores zero on the checks
  it must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's copies of RoPE and of the KV cache (coursekit.grading.bonus_palm_toys)
  equal the finished ones students get in palm.py, and the grader's multi-head
  attention with one repeated K/V head equals the reference multi-query attention.

The unit has no training check, so every check runs for every submission.
"""

import importlib.util
import sys

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_bonus_palm_grading")  # one xdist worker runs the whole file

WEEK = "bonus_palm"

BUGS, CORRECT = classic_cases(WEEK)
for _case in BUGS.values():
    _case["run"] = list(_case["must_fail"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("bonus_palm-submissions")
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
    assert len(BUGS) >= 10 and len(CORRECT) >= 3
    named = {"serial_block", "two_layernorms", "kv_per_head", "no_causal_mask", "scale_by_d_model", "rope_offset_lost"}
    assert named <= set(BUGS), "the classic bugs the unit was specified with"


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


def _students_palm():
    """The reference solution's palm.py, as a student gets its given parts."""
    spec = importlib.util.spec_from_file_location("_bonus_palm_palm", ROOT / "solutions" / WEEK / "palm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def test_grader_rope_and_cache_are_the_students():
    from coursekit.grading import bonus_palm_toys as toys

    palm = _students_palm()
    positions = torch.tensor([0, 1, 5, 17])
    for d_head, base in [(4, 10000.0), (8, 100.0)]:
        ours, theirs = toys.rope_angles(positions, d_head, base), palm.rope_angles(positions, d_head, base)
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
        x = torch.randn(2, 3, 4, d_head, dtype=torch.float64)
        assert torch.equal(toys.apply_rope(x, *ours), palm.apply_rope(x, *theirs))
    caches = toys.KVCache(), palm.KVCache()
    for T in (3, 1, 2):
        for cache in caches:
            for layer in range(2):
                k = torch.full((2, 1, T, 4), float(T + layer))
                cache.update(layer, k, -k)
    assert [c.length(1) for c in caches] == [6, 6] and len(caches[0]) == len(caches[1]) == 6
    assert caches[0].numel() == caches[1].numel() == 2 * 2 * 2 * 6 * 4
    assert all(torch.equal(a, b) for a, b in zip(caches[0].keys + caches[0].values, caches[1].keys + caches[1].values))


def test_grader_multi_head_attention_with_one_repeated_head_is_the_reference():
    from coursekit.config import load_course
    from coursekit.grading import bonus_palm_toys as toys
    from coursekit.grading.plugin import load_reference

    course = load_course(ROOT)
    ref = load_reference(course, course.week(WEEK))
    fields = dict(vocab_size=11, n_layer=1, n_head=4, n_embd=16, rope_base=500.0)
    attn = toys.random_state(
        ref.palm.MultiQueryAttention(ref.palm.PaLMConfig(**fields)), torch.Generator().manual_seed(1)
    )
    w = {n: p.detach() for n, p in attn.named_parameters()}
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    expected = toys.mha(x, w["q_proj.weight"], w["k_proj.weight"].repeat(4, 1), w["v_proj.weight"].repeat(4, 1),
                        w["o_proj.weight"], 4, 500.0)  # fmt: skip
    with torch.no_grad():
        torch.testing.assert_close(attn(x), expected, atol=1e-12, rtol=1e-10)


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/bonus_palm/hints.toml gets its own hint when it fails."""
    assert not hint_misses("bonus_palm", graded)
