"""What a hidden check sees of a submission: calls that return plain data.

    out, weights = student.call("attention.scaled_dot_product_attention", q, k, v, mask=mask)

runs the student's function in the submission's own process and returns its
outputs as plain tensors. Each call also refuses, with a one-line reason,
code that reaches a built-in the exercise asks the student to write.
"""

from __future__ import annotations

import torch

from .checks import fail, forbidden_names
from .client import Submission


def _has_tensor(x) -> bool:
    if isinstance(x, torch.Tensor):
        return True
    if isinstance(x, (list, tuple)):
        return any(_has_tensor(v) for v in x)
    if isinstance(x, dict):
        return any(_has_tensor(v) for v in x.values())
    return False


class Student:
    def __init__(self, submission: Submission, forbid: dict | None = None, device: str = "cpu"):
        self.submission = submission
        self.forbid = forbid or {}
        self.device = device
        self._static: dict[str, list[str]] = {}
        self.answers: list | None = None  # while a check runs: every answer, in order (for hints.py)

    # --- built-ins the student should not call ---
    def _refuse_builtins(self, target: str, seen: list[str] = ()) -> None:
        """Fail the check if the target's file names a forbidden built-in, or its run reached one."""
        filename = target.split(".")[0] + ".py"
        if filename not in self._static:
            self._static[filename] = forbidden_names(
                self.submission.source(filename), set(self.forbid.get("names", []))
            )
        used = sorted(set(self._static[filename]) | set(seen))
        if used:
            fail(
                f"{filename} uses torch's built-in {', '.join(used)}, which this exercise asks you to "
                "write yourself: no points for this part"
            )

    def _request(self, target: str, request: dict, during: str) -> dict:
        self.submission.require(target.split(".")[0] + ".py")
        self._refuse_builtins(target)  # from the source alone, before running anything
        request = {**request, "forbid": self.forbid, "device": self.device}
        answer = self.submission.request(request, during)
        if self.answers is not None:
            self.answers.append(answer)
        self._refuse_builtins(target, answer.get("forbidden", []))
        if _has_tensor(request.get("args")) or _has_tensor(request.get("kwargs")):
            self._same_device(answer.get("devices", []), during)
        for step, step_answer in zip(request.get("steps", []), answer.get("steps", [])):
            if _has_tensor(step.get("args")) or _has_tensor(step.get("kwargs")):
                self._same_device(step_answer.get("devices", []), during)
        return answer

    def _same_device(self, devices: list, during: str) -> None:
        wanted = self.device.split(":")[0]
        wrong = [d for d in devices if not isinstance(d, str) or d.split(":")[0] != wanted]
        if wrong:
            fail(f"{during} returned a tensor on {wrong[0]} for inputs on {wanted}")

    # --- calls ---
    @staticmethod
    def obj(target: str, *args, state_dict=None, dtype=None, mode=None, **kwargs) -> dict:
        """An object to build in the submission's process and pass as an argument:
        a class of the submission ("module.Class") or of coursekit.grading."""
        return {
            "@object": target,  # not an identifier, so never a keyword argument's name
            "args": list(args),
            "kwargs": kwargs,
            "state_dict": state_dict,
            "dtype": str(dtype).replace("torch.", "") if dtype else None,
            "mode": mode,
        }

    def call(
        self, target: str, *args, grad_wrt=(), upstream=None, return_inputs=False, seed=0, watch=True, **kwargs
    ) -> dict:
        """Call function `target` ("module.function"); the answer has "outputs",
        and "grads" (by input path, e.g. "args.0") when `upstream` is given.
        watch=False skips the per-op watch for built-ins (for long training runs;
        the scan of the source still applies)."""
        request = {
            "op": "run",
            "target": target,
            "args": list(args),
            "kwargs": kwargs,
            "grad_wrt": list(grad_wrt),
            "upstream": upstream,
            "return_inputs": return_inputs,
            "seed": seed,
            "watch": watch,
        }
        return self._request(target, request, f"{target.split('.')[-1]}()")

    def module(
        self,
        target: str,
        init_args=(),
        init_kwargs=None,
        *args,
        state_dict=None,
        dtype=None,
        grad_wrt=(),
        upstream=None,
        param_grads=False,
        return_state=False,
        return_inputs=False,
        describe=False,
        call=True,
        seed=0,
        steps=None,
        watch=True,
        **kwargs,
    ) -> dict:
        """Build `target` ("module.Class") with init_args, load `state_dict`, and call it on args.

        With `steps` (a list of dicts with the keys args, kwargs, method, mode,
        grad_wrt, upstream, param_grads, return_state, return_inputs, no_call),
        run each in order on the same object instead; answer["steps"] holds one
        answer per step."""
        request = {
            "op": "run",
            "target": target,
            "init": {
                "args": list(init_args),
                "kwargs": init_kwargs or {},
                "state_dict": state_dict,
                "dtype": str(dtype).replace("torch.", "") if dtype else None,
            },
            "args": list(args),
            "kwargs": kwargs,
            "grad_wrt": list(grad_wrt),
            "upstream": upstream,
            "param_grads": param_grads,
            "return_state": return_state,
            "return_inputs": return_inputs,
            "describe": describe,
            "no_call": not call,
            "seed": seed,
            "watch": watch,
        }
        if steps is not None:
            request = {k: v for k, v in request.items() if k in ("op", "target", "init", "describe", "seed", "watch")}
            request["steps"] = [dict(step) for step in steps]
        return self._request(target, request, f"{target.split('.')[-1]}")

    def train(self, attention_target: str, config: dict) -> dict:
        """Train the grader's toy transformer on the student's attention class."""
        request = {"op": "train", "attention": attention_target, "config": config}
        return self._request(attention_target, request, "training")
