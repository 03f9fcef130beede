"""The submission's side of grading: a process that runs the student's code.

Started by `Submission` (client.py) as

    python -I -m coursekit.grading.worker IN_FD OUT_FD SUBMISSION_DIR

in a scratch copy of the submission. It reads requests from IN_FD and answers
on OUT_FD, one frame each (wire.py). Everything here is the submission's to
break: the grader trusts nothing that comes back but plain data, and judges
that data itself. Requests:

    {"op": "ping"}
    {"op": "run", "target": "module.name", ...}    call a function or a module
    {"op": "train", "attention": "module.Class", "config": {...}}

A run answers with the outputs, the gradients asked for, and the names of
the forbidden torch functions the call reached. Errors in the student's code
come back as {"error": {"type", "message", "where"}}.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from . import toy, wire


class ForbiddenUse(TorchFunctionMode):
    """Records calls to torch functions the exercise asks the student to write."""

    def __init__(self, names):
        super().__init__()
        self.names = set(names)
        self.seen: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.names:
            self.seen.add(name)
        return func(*args, **(kwargs or {}))


class ForbiddenKernels(TorchDispatchMode):
    """Records fused attention kernels reached by any route (torch.ops, torch._C)."""

    def __init__(self, fragments):
        super().__init__()
        self.fragments = tuple(fragments)
        self.seen: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__
        if any(f in name for f in self.fragments):
            self.seen.add(name)
        return func(*args, **(kwargs or {}))


class Watch:
    """Both recorders at once, plus a scan of constructed modules' types."""

    def __init__(self, forbid: dict):
        self.functions = ForbiddenUse(forbid.get("functions", []))
        self.kernels = ForbiddenKernels(forbid.get("kernels", []))
        self.module_types = set(forbid.get("modules", []))
        self.seen_modules: set[str] = set()

    def __enter__(self):
        self.functions.__enter__()
        self.kernels.__enter__()
        return self

    def __exit__(self, *exc):
        self.kernels.__exit__(*exc)
        self.functions.__exit__(*exc)

    def scan(self, obj):
        if isinstance(obj, torch.nn.Module):
            for m in obj.modules():
                qualname = f"{type(m).__module__}.{type(m).__qualname__}"
                if qualname in self.module_types:
                    self.seen_modules.add(type(m).__name__)

    @property
    def seen(self) -> list[str]:
        return sorted(self.functions.seen | self.kernels.seen | self.seen_modules)


def resolve(target: str):
    module_name, _, attr = target.partition(".")
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _tensors(x):
    """The tensors in a nested output, in order."""
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _tensors(v)]
    return []


def plain(x):
    """Output as plain data; anything that is not becomes a description of it."""
    if isinstance(x, torch.Tensor):
        if x.device.type == "meta" or x.is_complex() or x.layout != torch.strided:
            return wire.Unsendable(f"{x.device.type} {x.dtype} tensor")
        return x.detach()
    if isinstance(x, (list, tuple)):
        return type(x)(plain(v) for v in x) if type(x) in (list, tuple) else tuple(plain(v) for v in x)
    if x is None or type(x) in (bool, int, float, str):
        return x
    return wire.Unsendable(type(x).__name__)


def _place(x, device, requires_grad_paths, path=""):
    if isinstance(x, torch.Tensor):
        x = x.to(device)
        if path in requires_grad_paths:
            x.requires_grad_(True)
        return x
    if isinstance(x, list):
        return [_place(v, device, requires_grad_paths, f"{path}.{i}") for i, v in enumerate(x)]
    if isinstance(x, tuple):
        return tuple(_place(v, device, requires_grad_paths, f"{path}.{i}") for i, v in enumerate(x))
    if isinstance(x, dict):
        return {k: _place(v, device, requires_grad_paths, f"{path}.{k}") for k, v in x.items()}
    return x


def _leaves(x, path=""):
    if isinstance(x, torch.Tensor):
        yield path, x
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _leaves(v, f"{path}.{i}")
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _leaves(v, f"{path}.{k}")


def op_run(req: dict) -> dict:
    """Call a function, or build a module and call a method of it.

    Request fields: target; init = {"args", "kwargs", "state_dict", "dtype"}
    for a class; method (default: call the module itself); args, kwargs;
    grad_wrt: paths of input tensors to differentiate ("args.0" = first
    positional argument, "kw.name" = a keyword argument); upstream: one gradient per
    output tensor (the backward pass computes sum(out_i * upstream_i));
    param_grads, return_state, return_inputs, describe: booleans; device;
    forbid: what to watch for.
    """
    device = req.get("device", "cpu")
    seed = req.get("seed", 0)
    torch.manual_seed(seed)
    grad_wrt = set(req.get("grad_wrt", []))
    inputs = {"args": list(req.get("args", [])), "kw": dict(req.get("kwargs", {}))}
    inputs = _place(inputs, device, {"." + p for p in grad_wrt})
    snapshot = {p: t.detach().clone() for p, t in _leaves(inputs)} if req.get("return_inputs") else None
    watch = Watch(req.get("forbid", {}))
    answer: dict = {}
    target = resolve(req["target"])
    with watch:
        if "init" in req:
            init = req["init"]
            obj = target(*init.get("args", []), **init.get("kwargs", {}))
            watch.scan(obj)
            if init.get("dtype"):
                obj = obj.to(getattr(torch, init["dtype"]))
            obj = obj.to(device)
            if init.get("state_dict") is not None:
                obj.load_state_dict(init["state_dict"])
            if req.get("describe"):
                answer["describe"] = describe(obj)
            fn = getattr(obj, req["method"]) if req.get("method") else obj
        else:
            obj, fn = None, target
        if req.get("no_call"):
            outputs = None
        else:
            outputs = fn(*inputs["args"], **inputs["kw"])
        watch.scan(outputs)
        if req.get("upstream") is not None:
            outs = _tensors(outputs)
            upstream = [u.to(device) for u in req["upstream"]]
            if len(outs) != len(upstream):
                raise TypeError(f"expected {len(upstream)} output tensors, got {len(outs)}")
            total = sum((o * u).sum() for o, u in zip(outs, upstream) if o.requires_grad)
            if isinstance(total, torch.Tensor):
                total.backward()
    answer["outputs"] = plain(outputs)
    answer["devices"] = [str(t.device) for t in _tensors(outputs)]
    if req.get("upstream") is not None:
        answer["grads"] = {p[1:]: t.grad for p, t in _leaves(inputs) if p[1:] in grad_wrt}
        if req.get("param_grads") and obj is not None:
            answer["param_grads"] = {n: p.grad for n, p in obj.named_parameters()}
    if req.get("return_state") and obj is not None:
        answer["state_dict"] = {k: v.detach() for k, v in obj.state_dict().items()}
    if snapshot is not None:
        answer["inputs_changed"] = sorted(
            p[1:] for p, t in _leaves(inputs) if p in snapshot and not torch.equal(t.detach(), snapshot[p])
        )
    answer["forbidden"] = watch.seen
    return answer


def describe(module: torch.nn.Module) -> dict:
    return {
        "type": type(module).__name__,
        "children": {n: type(m).__name__ for n, m in module.named_children()},
        "linear": {
            n: {"in": m.in_features, "out": m.out_features, "bias": m.bias is not None}
            for n, m in module.named_children()
            if isinstance(m, torch.nn.Linear)
        },
        "parameters": {n: list(p.shape) for n, p in module.named_parameters()},
    }


def op_train(req: dict) -> dict:
    """Train the toy transformer on the student's attention with the grader's loop."""
    attention_cls = resolve(req["attention"])
    config = toy.ToyConfig(**req["config"])
    device = req.get("device", "cpu")
    # Look for forbidden built-ins on one training step: watching every step would slow training.
    watch = Watch(req.get("forbid", {}))
    with watch:
        probe = toy.ToyTransformer(attention_cls, config).to(device)
        batch = toy.make_batch(config, 4, torch.Generator().manual_seed(config.seed), device)
        toy.loss_on_targets(probe, batch).backward()
    watch.scan(probe)
    model, losses = toy.train(attention_cls, config, device=device)
    return {
        "state_dict": {k: v.detach() for k, v in model.state_dict().items()},
        "losses": losses,
        "forbidden": watch.seen,
    }


OPS = {"ping": lambda req: {"pong": True}, "run": op_run, "train": op_train}


def where(exc: BaseException, root: str) -> str:
    """The innermost traceback frame inside the submission, as 'file, line N, in name'."""
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{os.path.basename(exc.filename)}, line {exc.lineno}"
    for frame in reversed(frames):
        if os.path.abspath(frame.filename).startswith(root + os.sep):
            return f"{os.path.relpath(frame.filename, root)}, line {frame.lineno}, in {frame.name}"
    return ""


def serve(in_fd: int, out_fd: int, root: str) -> None:
    reader = os.fdopen(in_fd, "rb", buffering=0)
    writer = os.fdopen(out_fd, "wb", buffering=0)

    def read_exact(n):
        buf = b""
        while len(buf) < n:
            chunk = reader.read(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    while True:
        try:
            size = int.from_bytes(read_exact(8), "big")
            request = wire.decode(read_exact(size))
        except EOFError:
            return
        try:
            answer = OPS[request["op"]](request)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            answer = {"error": {"type": type(exc).__name__, "message": message, "where": where(exc, root)}}
        try:
            frame = wire.encode(answer)
        except wire.WireError as exc:
            frame = wire.encode({"error": {"type": "WireError", "message": str(exc), "where": ""}})
        writer.write(frame)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    in_fd, out_fd, root = int(argv[0]), int(argv[1]), os.path.abspath(argv[2])
    os.chdir(root)
    sys.path.insert(0, root)
    torch.set_num_threads(int(os.environ.get("COURSE_WORKER_THREADS", "1")))
    serve(in_fd, out_fd, root)


if __name__ == "__main__":
    main()
