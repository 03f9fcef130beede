"""The Week 1 hidden grading suite, judged on submissions whose grades are known.

Every submission below is graded once, by the real grader (`course grade`'s
code, in separate processes), in the module-scoped `graded` fixture; each
test then asserts on its own submission's report.

- the reference solution earns full marks; the untouched stubs earn zero;
- a half-done submission earns exactly the points of its finished parts;
- each classic bug in tests/submissions/week1/ scores zero on the checks it
  must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- broken and hostile submissions (syntax errors, missing files, hangs,
  exits, crashes, floods, patched checkers, lying return values) earn
  nothing for what they broke, with a one-line reason, and keep the rest.
"""

import pytest
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission, scores

pytestmark = pytest.mark.xdist_group("test_week1_grading")  # one xdist worker runs the whole file

SDPA_CHECKS = [
    "sdpa_shapes", "sdpa_matches_reference", "sdpa_matches_builtin", "sdpa_masks", "sdpa_fully_masked_rows",
    "sdpa_numerical_stability", "sdpa_gradients", "sdpa_inputs_unchanged",
]  # fmt: skip
MHA_CHECKS = ["mha_structure", "mha_matches_builtin", "mha_matches_reference", "mha_gradients", "mha_masks"]
PE_CHECKS = ["pe_shape_dtype", "pe_values"]
QUICK = ["sdpa_shapes", "sdpa_matches_reference", "causal_mask", "pe_values", "mha_matches_reference"]
# Training checks take seconds each: run them for these classic bugs only (one that cannot learn,
# one that learns a different function from the spec's), and the other checks for every bug.
TRAIN_BUGS = {"mha_detached_qk_projections", "mha_split_heads_without_transpose"}


BUGS, CORRECT = classic_cases("week1")
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or not c.startswith("train_")]

REFERENCE_ATTENTION = (ROOT / "solutions" / "week1" / "attention.py").read_text()

# Broken and hostile submissions: files laid over the reference solution.
HOSTILE = {
    "syntax_error": ({"positional_encoding.py": "def sinusoidal_positional_encoding(max_len, d_model:\n    pass\n"}, None),
    "missing_file": ({}, None),  # multi_head_attention.py dropped below
    "wrong_name": ({"attention.py": REFERENCE_ATTENTION.replace("def causal_mask(", "def causal_mask_(")}, None),
    "exit_zero": ({"positional_encoding.py": "import sys\n\ndef sinusoidal_positional_encoding(max_len, d_model, device=None):\n    sys.exit(0)\n"}, None),
    "os_exit_at_import": ({"positional_encoding.py": "import os\nos._exit(0)\n"}, None),
    "segfault": ({"positional_encoding.py": "import os, signal\n\ndef sinusoidal_positional_encoding(max_len, d_model, device=None):\n    os.kill(os.getpid(), signal.SIGSEGV)\n"}, None),
    "hang": ({"positional_encoding.py": "def sinusoidal_positional_encoding(max_len, d_model, device=None):\n    while True:\n        pass\n"}, 4),
    "flood": ({"positional_encoding.py": "import sys\n\ndef sinusoidal_positional_encoding(max_len, d_model, device=None):\n    line = 'x' * 1_000_000\n    while True:\n        print(line)\n        print(line, file=sys.stderr)\n"}, 4),
    "fills_disk": ({"positional_encoding.py": "def sinusoidal_positional_encoding(max_len, d_model, device=None):\n    with open('big', 'wb') as f:\n        while True:\n            f.write(b'x' * 1_000_000)\n"}, None),
    # Patching the checker's tools from the submission's process changes nothing in the grader's.
    "patches_checker": ({"positional_encoding.py": (
        "import torch, numpy, pytest\n"
        "torch.allclose = lambda *a, **k: True\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        "numpy.allclose = lambda *a, **k: True\n"
        "pytest.approx = lambda *a, **k: a[0]\n"
        "def sinusoidal_positional_encoding(max_len, d_model, device=None):\n"
        "    return torch.zeros(max_len, d_model, device=device)\n")}, None),
    # An object that claims to equal everything arrives as the plain numbers it holds.
    "lying_tensor": ({"positional_encoding.py": (
        "import torch\n"
        "class Liar(torch.Tensor):\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    @classmethod\n"
        "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        if func.__name__ in ('allclose', 'equal'): return True\n"
        "        return super().__torch_function__(func, types, args, kwargs or {})\n"
        "def sinusoidal_positional_encoding(max_len, d_model, device=None):\n"
        "    return torch.zeros(max_len, d_model, device=device).as_subclass(Liar)\n")}, None),
    "returns_numpy": ({"positional_encoding.py": (
        "import numpy as np\n"
        "def sinusoidal_positional_encoding(max_len, d_model, device=None):\n"
        "    return np.zeros((max_len, d_model), dtype=np.float32)\n")}, None),
    # A built-in reached without naming it in the source: caught at run time.
    "hidden_builtin": ({"attention.py": REFERENCE_ATTENTION.replace(
        "    out = weights @ v  # (..., Lq, d_v)",
        "    out = getattr(torch.nn.functional, 'scaled_dot_' + 'product_attention')(q, k, v, attn_mask=mask)")}, None),
    # A conftest.py next to the stubs that would pass every test if pytest loaded it.
    "rigged_conftest": ({"conftest.py": (
        "import pytest\n"
        "@pytest.hookimpl(hookwrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n"
        "    outcome.get_result().outcome = 'passed'\n")}, None),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("week1-submissions")
    jobs, names = [], []

    def add(name, submission, only=None, timeout_cap=None):
        names.append(name)
        jobs.append({"submission": str(submission), "only": only, "timeout_cap": timeout_cap})

    add("reference", ROOT / "solutions" / "week1")
    add("stubs", ROOT / "exercises" / "week1")
    add("half_done", make_submission(tmp / "half_done", overlay={"multi_head_attention.py": (ROOT / "exercises" / "week1" / "multi_head_attention.py").read_text()}))
    for name, case in BUGS.items():
        add(f"bug:{name}", make_submission(tmp / name, overlay=case["dir"]), only=case["run"])
    for name, case in CORRECT.items():
        # Training uses attention.py and multi_head_attention.py only: skip it when neither changed.
        touches_attention = any((case["dir"] / f).exists() for f in ("attention.py", "multi_head_attention.py"))
        only = None if touches_attention else [c for c in course.week("week1").checks if not c.startswith("train_")]
        add(f"correct:{name}", make_submission(tmp / name, overlay=case["dir"]), only=only)
    for name, (files, cap) in HOSTILE.items():
        base = "exercises" if name == "rigged_conftest" else "solutions"
        drop = ("multi_head_attention.py",) if name == "missing_file" else ()
        only = None if name == "rigged_conftest" else QUICK + PE_CHECKS[:1]
        add(f"hostile:{name}", make_submission(tmp / name, base=base, overlay=files, drop=drop), only=sorted(set(only)) if only else None, timeout_cap=cap)
    return dict(zip(names, grade_many(jobs, tmp)))


def test_reference_earns_full_marks(graded, course):
    report = graded["reference"]
    failed = {t["name"]: t["output"] for t in report["tests"] if t["status"] != "passed"}
    assert not failed
    assert report["score"] == report["max_score"] == course.week("week1").max_score


def test_stubs_earn_zero_with_a_todo_reason(graded):
    report = graded["stubs"]
    assert report["score"] == 0
    for t in report["tests"]:
        assert t["status"] == "failed"
        assert t["output"].startswith("TODO: implement"), t


def test_half_done_earns_partial_credit(graded, course):
    report = graded["half_done"]
    checks = course.week("week1").checks
    done = SDPA_CHECKS + PE_CHECKS + ["causal_mask"]
    assert report["score"] == sum(checks[c].points for c in done)
    for name, t in scores(report).items():
        assert (t["status"] == "passed") == (name in done), t


def test_there_are_classic_bugs_and_correct_variants():
    assert len(BUGS) >= 25 and len(CORRECT) >= 5


@pytest.mark.parametrize("name", sorted(BUGS))
def test_classic_bug_is_caught(graded, name):
    report = graded[f"bug:{name}"]
    assert "error" not in report, report
    for check, t in scores(report).items():
        assert t["score"] == 0 and t["status"] == "failed", f"{name}: {check} should fail: {t}"
        assert t["output"] and "\n" not in t["output"]


def test_every_hidden_check_is_failed_by_some_classic_bug(course):
    caught = {check for case in BUGS.values() for check in case["run"]}
    assert set(course.week("week1").checks) - caught == set()


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_variant_earns_full_marks(graded, name):
    report = graded[f"correct:{name}"]
    failed = {t["name"]: t["output"] for t in report["tests"] if t["status"] != "passed"}
    assert not failed, f"{name}: {failed}"


def hostile(graded, name):
    return scores(graded[f"hostile:{name}"])


def assert_only_pe_lost(results, reason_words, lost=PE_CHECKS):
    for check, t in results.items():
        if check in lost:
            assert t["score"] == 0 and any(w in t["output"] for w in reason_words), t
            assert "\n" not in t["output"]
        else:
            assert t["status"] == "passed", t


def test_syntax_error_costs_only_its_file(graded):
    assert_only_pe_lost(hostile(graded, "syntax_error"), ["syntax error in positional_encoding.py, line 1"])


def test_missing_file_costs_only_its_checks(graded):
    results = hostile(graded, "missing_file")
    assert results["mha_matches_reference"]["output"] == "multi_head_attention.py missing from the submission"
    assert all(t["status"] == "passed" for c, t in results.items() if not c.startswith("mha_"))


def test_wrong_name_is_reported(graded):
    results = hostile(graded, "wrong_name")
    assert results["causal_mask"]["score"] == 0
    assert "causal_mask" in results["causal_mask"]["output"]
    assert results["sdpa_matches_reference"]["status"] == "passed"


@pytest.mark.parametrize("name, words, lost", [
    ("exit_zero", ["SystemExit"], PE_CHECKS),
    ("os_exit_at_import", ["exited (status 0)"], PE_CHECKS),
    ("segfault", ["SIGSEGV"], PE_CHECKS),
    ("hang", ["timed out"], PE_CHECKS),
    ("flood", ["timed out"], PE_CHECKS),
    ("fills_disk", ["File too large"], PE_CHECKS),
    # zeros of the right shape, dtype and device: only the values are wrong
    ("patches_checker", ["differs from the expected values"], ["pe_values"]),
    ("lying_tensor", ["differs from the expected values"], ["pe_values"]),
    ("returns_numpy", ["should be a torch.Tensor, got ndarray"], PE_CHECKS),
])  # fmt: skip
def test_hostile_submission_loses_only_what_it_broke(graded, name, words, lost):
    assert_only_pe_lost(hostile(graded, name), words, lost)


def test_builtin_reached_at_run_time_earns_nothing_for_its_part(graded):
    for check, t in hostile(graded, "hidden_builtin").items():
        if check.startswith("sdpa_"):
            assert t["score"] == 0 and "uses torch's built-in scaled_dot_product_attention" in t["output"], t
        elif check.startswith("mha_"):  # built on the student's attention, so it reaches the built-in too
            assert t["score"] == 0, t
        else:
            assert t["status"] == "passed", t


def test_conftest_in_submission_is_ignored(graded):
    report = graded["hostile:rigged_conftest"]
    assert report["score"] == 0


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/week1/hints.toml gets its own hint when it fails."""
    assert not hint_misses("week1", graded)
