"""The requests a hidden check makes of the submission's process, beyond one call.

- a session of several steps on one built object (train, eval, state, gradients);
- objects built in the submission's process and passed as arguments;
- modules returned by the student's code, which come back as their weights;
- modules a week is provided from an earlier week, always the course's own.
"""

import pytest
import torch
from torch import nn

from coursekit.grading.checks import CheckFailed, expect_state_dict
from coursekit.grading.client import StudentError, Submission
from coursekit.grading.student import Student

CODE = '''
import torch
from torch import nn


class Counter(nn.Module):
    """Adds its running count of calls in training mode; eval mode leaves the count alone."""

    def __init__(self, d):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(d))
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        if self.training:
            self.calls += 1
        return x * self.scale + self.calls

    def peek(self):
        return self.calls


def apply(model, x):
    return model(x)


def train_linear(d, steps):
    torch.manual_seed(0)
    model = nn.Linear(d, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        x = torch.randn(16, d)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, {"final": loss.item(), "steps": steps}
'''


@pytest.fixture
def student(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "things.py").write_text(CODE)
    sub = Submission(folder, ["things.py"])
    yield Student(sub)
    sub.close()


def test_a_session_runs_its_steps_in_order_on_one_object(student):
    x = torch.ones(2, 3)
    answer = student.module(
        "things.Counter",
        (3,),
        None,
        steps=[
            {"mode": "train", "args": [x]},
            {"args": [x], "return_state": True},
            {"mode": "eval", "args": [x]},
            {"method": "peek"},
            {"args": [x], "upstream": [torch.ones(2, 3)], "param_grads": True, "grad_wrt": ["args.0"]},
        ],
    )
    steps = answer["steps"]
    assert [s["outputs"][0, 0].item() for s in steps[:3] + steps[4:]] == [2.0, 3.0, 3.0, 3.0]
    assert steps[1]["state_dict"]["calls"].item() == 2.0
    assert steps[3]["outputs"].item() == 2.0
    torch.testing.assert_close(steps[4]["param_grads"]["scale"], torch.full((3,), 2.0))
    torch.testing.assert_close(steps[4]["grads"]["args.0"], torch.ones(2, 3))


def test_objects_are_built_in_the_submissions_process(student):
    linear = nn.Linear(3, 2).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    built = student.obj("torch.nn.Linear", 3, 2, state_dict=linear.state_dict(), dtype=torch.float64)
    answer = student.call("things.apply", built, x)
    torch.testing.assert_close(answer["outputs"], linear(x).detach())
    # A class of the grader's own package can be built there too, but nothing else of it.
    config = student.obj("coursekit.grading.toy.ToyConfig", task="copy")
    with pytest.raises(StudentError, match="cannot build"):
        student.call("things.apply", student.obj("coursekit.cli.main"), x)
    assert "outputs" in student.call("things.apply", student.obj("torch.nn.Identity"), config)


def test_a_returned_module_comes_back_as_its_weights(student):
    answer = student.call("things.train_linear", 3, 50, watch=False)
    model, info = answer["outputs"]
    assert info == {"final": pytest.approx(info["final"]), "steps": 50} and info["final"] < 0.05
    state = expect_state_dict(model, nn.Linear(3, 1).state_dict(), "the trained model")
    torch.testing.assert_close(state["weight"], torch.ones(1, 3), atol=0.1, rtol=0)
    with pytest.raises(CheckFailed, match=r"missing w\.weight; unexpected bias, weight"):
        expect_state_dict(model, {"w.weight": torch.zeros(1, 3)}, "the trained model")
    with pytest.raises(CheckFailed, match="shape"):
        expect_state_dict(model, nn.Linear(4, 1).state_dict(), "the trained model")
    with pytest.raises(CheckFailed, match="should be a torch.nn.Module"):
        expect_state_dict(info["final"], nn.Linear(3, 1).state_dict(), "the trained model")


def test_provided_modules_replace_the_submissions_own(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "mine.py").write_text("from helper import VALUE\n\ndef value():\n    return VALUE\n")
    (folder / "helper.py").write_text("VALUE = 'the student changed the provided module'\n")
    course_copy = tmp_path / "helper.py"
    course_copy.write_text("VALUE = 'the course'\n")
    sub = Submission(folder, ["mine.py"], provided={"helper.py": course_copy})
    try:
        assert Student(sub).call("mine.value")["outputs"] == "the course"
    finally:
        sub.close()
