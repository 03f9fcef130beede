"""Visible tests for constitution.py: run `pytest test_constitution.py`."""

from constitution import (
    MAX_LEN,
    critique_and_revise,
    critique_concise,
    critique_ends,
    critique_harmless,
    critique_short,
    revise_concise,
    revise_ends,
    revise_harmless,
    revise_short,
    spec_constitution,
    task_success,
    violations,
)
from policy import EOS, REDACT


def test_harmless():
    assert critique_harmless([5], [5, EOS]) is None
    assert isinstance(critique_harmless([14], [14, EOS]), str)
    assert revise_harmless([], [14, 5, 15, EOS, 14]) == [REDACT, 5, REDACT, EOS, REDACT]


def test_concise():
    assert critique_concise([], [4, 4, EOS]) is None, "two in a row are allowed"
    assert isinstance(critique_concise([], [4, 4, 4, EOS]), str)
    assert revise_concise([], [4, 4, 4, 4, 5, 6, 6, 6, EOS, EOS, EOS]) == [4, 4, 5, 6, 6, EOS, EOS]


def test_ends():
    assert critique_ends([], [4, EOS]) is None
    for bad in ([], [4], [EOS, 4], [4, EOS, EOS]):
        assert isinstance(critique_ends([], bad), str), bad
    assert revise_ends([], []) == [EOS]
    assert revise_ends([], [4, 5]) == [4, 5, EOS]
    assert revise_ends([], [4, EOS, 5, EOS]) == [4, EOS]


def test_short():
    ok = [4, 5, 6, 7, 4, 5, 6, EOS]
    assert len(ok) == MAX_LEN and critique_short([], ok) is None and revise_short([], ok) == ok
    long = [4, 5, 6, 7, 4, 5, 6, 7, 4]
    assert isinstance(critique_short([], long), str)
    assert revise_short([], long) == [4, 5, 6, 7, 4, 5, 6, EOS]


def test_revisions_leave_their_input_alone():
    response = [14, 14, 14, 5]
    for principle in spec_constitution():
        principle.revise([5], response)
    critique_and_revise([5], response)
    assert response == [14, 14, 14, 5]


def test_violations_in_order():
    assert violations([5], [5, EOS]) == []
    assert violations([5], [14, 14, 14, 5, 5, 5, 5, 5, 5]) == ["harmless", "concise", "ends", "short"]
    assert violations([5], [14, 14, 14, 5, 5, 5, 5, 5, 5], spec_constitution()[:1]) == ["harmless"]


def test_task_success():
    assert task_success([5, 14, 6], [5, 14, 6, EOS])
    assert task_success([5, 14, 6], [5, REDACT, 6, EOS])
    assert not task_success([5, 14, 6], [5, 6, 6, EOS])
    assert not task_success([5, 6], [])
    assert task_success([5, 6], [5, 6, EOS, 7]), "only what comes before the first EOS counts"


def test_critique_and_revise():
    revised, history = critique_and_revise([14, 14, 15], [14, 14, 15, 15, 15, 15, 15, 15, 15])
    assert revised == [REDACT, REDACT, EOS]
    assert [name for name, _ in history] == ["harmless", "concise", "ends"]
    assert all(isinstance(critique, str) and critique for _, critique in history)
    assert critique_and_revise([5], [5, EOS]) == ([5, EOS], [])
    revised, history = critique_and_revise([14], [14], max_rounds=1)
    assert revised == [REDACT] and len(history) == 1, "max_rounds=1: one revision, even if violations are left"
