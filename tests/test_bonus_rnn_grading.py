"""The recurrent unit's hidden grading suite (RNN, GRU, LSTM, attention seq2seq), judged on submissions whose grades
are known.

Every submission below is graded once, by the real grader, in the
module-scoped `graded` fixture; each test then asserts on its own report.

- the reference solution earns full marks; the untouched stubs earn zero;
- each classic bug in tests/submissions/bonus_rnn/ scores zero on the checks
  it must fail, and every hidden check is failed by at least one classic bug;
- correct implementations written differently earn full marks;
- the grader's copies of the models and of the data
  (coursekit.grading.bonus_rnn_toys) equal the ones students get in cells.py,
  char_rnn.py and seq2seq.py.
"""

import importlib.util
import sys

import pytest
import torch
from conftest import ROOT, classic_cases, grade_many, hint_misses, make_submission

pytestmark = pytest.mark.xdist_group("test_bonus_rnn_grading")  # one xdist worker runs the whole file

WEEK = "bonus_rnn"
MODULES = ("cells", "char_rnn", "seq2seq")
TRAINING = {"train_char_rnn", "train_seq2seq"}
# Training checks take seconds each: run them for these classic bugs only, the other checks for every bug.
TRAIN_BUGS = {"tbptt_no_detach", "s2s_targets_not_shifted"}
# Correct variants whose files the training checks use differently from the reference.
TRAIN_CORRECT = {"correct_char_rnn_stepwise"}


BUGS, CORRECT = classic_cases(WEEK)
for _name, _case in BUGS.items():
    _case["run"] = [c for c in _case["must_fail"] if _name in TRAIN_BUGS or c not in TRAINING]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course):
    tmp = tmp_path_factory.mktemp("bonus_rnn-submissions")
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
    """Each hidden check's module, from the file of graders/bonus_rnn that holds its test."""
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
    assert all(case["run"] for case in BUGS.values()), "a classic bug that runs no check would run them all"


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
    """The reference solution's `name`.py, loaded with the unit's folder on the path."""
    folder = ROOT / "solutions" / WEEK
    saved = {m: sys.modules.get(m) for m in MODULES}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"_bonus_rnn_{name}", folder / f"{name}.py")
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


def _same_init(make_ours, make_theirs, seed=3):
    torch.manual_seed(seed)
    ours = make_ours()
    torch.manual_seed(seed)
    theirs = make_theirs()
    probe = {"seen_x", "seen_info", "last_mode"}  # ProbeCharRNN's records
    assert ours.state_dict().keys() - probe == theirs.state_dict().keys()
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key  # the same initialisation
    return ours.double().eval(), theirs.double().eval()


def _flat(x):
    return torch.cat([t.flatten() for t in x]) if isinstance(x, tuple) else x


def test_grader_cells_are_the_students_cells():
    from coursekit.grading import bonus_rnn_toys as toys

    cells = _students_module("cells")
    pairs = {"rnn": (toys.TanhCell, cells.RNNCell), "gru": (toys.GatedCell, cells.GRUCell),
             "lstm": (toys.MemoryCell, cells.LSTMCell)}  # fmt: skip
    generator = torch.Generator().manual_seed(4)
    for name, (ours_cls, theirs_cls) in pairs.items():
        for bias in (True, False):
            ours, theirs = _same_init(lambda c=ours_cls, b=bias: c(3, 5, b), lambda c=theirs_cls, b=bias: c(3, 5, b))
            x = torch.randn(2, 6, 3, generator=generator, dtype=torch.float64)
            mask = torch.rand(2, 6, generator=generator) < 0.7
            assert torch.equal(_flat(ours(x[:, 0])), _flat(theirs(x[:, 0]))), name
            for m in (None, mask):
                out_a, state_a = toys.run_cell(ours, x, mask=m)
                out_b, state_b = cells.unroll(theirs, x, mask=m)
                assert torch.equal(out_a, out_b) and torch.equal(_flat(state_a), _flat(state_b)), name


def test_grader_models_are_the_students_models():
    from coursekit.grading import bonus_rnn_toys as toys

    char_rnn, seq2seq = _students_module("char_rnn"), _students_module("seq2seq")
    generator = torch.Generator().manual_seed(5)
    for cell in ("rnn", "gru", "lstm"):
        for grader_cls in (toys.GraderCharRNN, toys.ProbeCharRNN):
            ours, theirs = _same_init(
                lambda g=grader_cls, c=cell: g(11, 4, 6, c), lambda c=cell: char_rnn.CharRNN(11, 4, 6, c)
            )
            idx = torch.randint(11, (3, 7), generator=generator)
            (a, state_a), (b, state_b) = ours(idx), theirs(idx)
            assert torch.equal(a, b) and torch.equal(_flat(state_a), _flat(state_b)), cell
            streams = torch.randint(11, (2, 30), generator=generator)
            assert char_rnn.evaluate_lm(ours, streams, 6) == char_rnn.evaluate_lm(theirs, streams, 6)
    ours, theirs = _same_init(lambda: toys.GraderSeq2Seq(13, 5, 6, 4), lambda: seq2seq.Seq2Seq(13, 5, 6, 4))
    src, tgt = seq2seq.make_reversal_batch(8, 1, 6, generator=generator)
    for a, b in zip((*ours(src, tgt[:, :-1]), *ours.encode(src)), (*theirs(src, tgt[:, :-1]), *theirs.encode(src))):
        assert torch.equal(a, b)
    assert torch.equal(seq2seq.greedy_decode(ours, src, 7), seq2seq.greedy_decode(theirs, src, 7))


def test_probe_records_what_training_gives_it():
    from coursekit.grading import bonus_rnn_toys as toys

    char_rnn = _students_module("char_rnn")
    torch.manual_seed(0)
    probe = toys.ProbeCharRNN(7, 4, 5, "lstm").eval()
    data = torch.randint(7, (3 * 23 + 2,), generator=torch.Generator().manual_seed(1))
    char_rnn.train_char_rnn(probe, data, steps=6, batch_size=3, seq_len=5)
    info = probe.seen_info
    assert info.shape == (6, 4) and probe.seen_x.shape == (6, 3, 5) and probe.last_mode.item() == 0
    assert info[:, 0].tolist() == [1, 0, 0, 0, 1, 0], "None at the start of each pass (4 windows)"
    assert (info[:, 1] == 0).all() and info[[1, 2, 3, 5], 2].max() == 0, "carried exactly, detached"
    assert torch.equal(probe.seen_x[1], toys.streams(data, 3)[:, 5:10])


def test_grader_data_is_the_students_data():
    from coursekit.grading import bonus_rnn_toys as toys

    char_rnn, seq2seq = _students_module("char_rnn"), _students_module("seq2seq")
    for n, (lo, hi), seed in ((1, (1, 1), 0), (300, (1, 6), 5), (50, (3, 8), 9)):
        ours = toys.make_reversal_batch(n, lo, hi, 10, torch.Generator().manual_seed(seed))
        theirs = seq2seq.make_reversal_batch(n, lo, hi, 10, torch.Generator().manual_seed(seed))
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert (toys.PAD, toys.BOS, toys.EOS, toys.N_SPECIAL) == (seq2seq.PAD, seq2seq.BOS, seq2seq.EOS, seq2seq.N_SPECIAL)
    text = toys.tiny_shakespeare()
    assert text == char_rnn.load_text()
    vocab = char_rnn.CharVocab(text)
    assert vocab.chars == toys.char_vocab(text) and toys.split_text(text) == char_rnn.split_text(text)
    sample = text[:5000]
    assert torch.equal(toys.encode_chars(sample, toys.char_vocab(text)), vocab.encode(sample))
    data = torch.arange(103)
    assert torch.equal(toys.streams(data, 4), char_rnn.batchify(data, 4))


def test_hints_name_their_bugs(graded):
    """Each classic bug of graders/bonus_rnn/hints.toml gets its own hint when it fails."""
    assert not hint_misses("bonus_rnn", graded)
