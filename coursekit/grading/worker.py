"""The submission's side of grading: a process that runs the student's code.

Started by `Submission` (client.py) as

    python -I -m coursekit.grading.worker IN_FD OUT_FD SUBMISSION_DIR

in a scratch copy of the submission. It reads requests from IN_FD and answers
on OUT_FD, one frame each (wire.py). Everything here is the submission's to
break: the grader trusts nothing that comes back but plain data, and judges
that data itself. Requests:

    {"op": "ping"}
    {"op": "run", "target": "module.name", ...}    call a function or a module (see op_run)
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
    """The object named "module.attr[.attr...]"; the module may be a dotted package path."""
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name or cut == 1:
                raise
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(f"No module named {parts[0]!r}")


def _tensors(x):
    """The tensors in a nested output, in order."""
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _tensors(v)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _tensors(v)]
    return []


def plain(x, depth: int = 0):
    """Output as plain data; anything that is not becomes a description of it.

    A torch module comes back as {"module": its class name, "state_dict": ...}:
    the grader judges trained weights in its own copy of the reference model.
    """
    if depth > 20:
        return wire.Unsendable("nesting deeper than 20 levels")
    if isinstance(x, torch.Tensor):
        if x.device.type == "meta" or x.is_complex() or x.layout != torch.strided:
            return wire.Unsendable(f"{x.device.type} {x.dtype} tensor")
        return x.detach()
    if isinstance(x, torch.nn.Module):
        state = {k: plain(v, depth + 1) for k, v in x.state_dict().items()}
        return {"module": type(x).__name__, "state_dict": state}
    if isinstance(x, (list, tuple)):
        items = [plain(v, depth + 1) for v in x]
        return items if type(x) is list else tuple(items)
    if isinstance(x, dict) and all(type(k) is str for k in x):
        return {k: plain(v, depth + 1) for k, v in x.items()}
    if x is None or type(x) in (bool, int, float, str):
        return x
    return wire.Unsendable(type(x).__name__)


OBJECT_KEY = "@object"  # a request value {"@object": target, ...} is built here: see build_object


def build_object(spec: dict, device, built: list):
    """An object the grader passes as an argument: a class of the submission
    ("module.Class") or of coursekit.grading, built from init args, moved to
    `device` (and `dtype`), loaded with `state_dict`, put in train or eval `mode`."""
    target = spec[OBJECT_KEY]
    if not isinstance(target, str) or (target.startswith("coursekit.") and not target.startswith("coursekit.grading.")):
        raise TypeError(f"cannot build {target!r}")
    args = _place(spec.get("args", []), device, (), built=built)
    kwargs = _place(spec.get("kwargs", {}), device, (), built=built)
    obj = resolve(target)(*args, **kwargs)
    if isinstance(obj, torch.nn.Module):
        if spec.get("dtype"):
            obj = obj.to(getattr(torch, spec["dtype"]))
        obj = obj.to(device)
        if spec.get("state_dict") is not None:
            obj.load_state_dict(spec["state_dict"])
        if spec.get("mode") in ("train", "eval"):
            obj.train(spec["mode"] == "train")
    built.append(obj)
    return obj


def _place(x, device, requires_grad_paths, path="", built=None):
    """Request values as the call's inputs: tensors on `device`, objects built."""
    built = [] if built is None else built
    if isinstance(x, dict) and OBJECT_KEY in x:
        return build_object(x, device, built)
    if isinstance(x, torch.Tensor):
        x = x.to(device)
        if path in requires_grad_paths:
            x.requires_grad_(True)
        return x
    if isinstance(x, list):
        return [_place(v, device, requires_grad_paths, f"{path}.{i}", built) for i, v in enumerate(x)]
    if isinstance(x, tuple):
        return tuple(_place(v, device, requires_grad_paths, f"{path}.{i}", built) for i, v in enumerate(x))
    if isinstance(x, dict):
        return {k: _place(v, device, requires_grad_paths, f"{path}.{k}", built) for k, v in x.items()}
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


class NoWatch:
    """Stands in for Watch when a request asks not to watch (long training runs)."""

    seen: tuple[str, ...] = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def scan(self, obj):
        pass


STEP_KEYS = ("args", "kwargs", "method", "mode", "grad_wrt", "upstream", "param_grads", "return_state",
             "return_inputs", "no_call")  # fmt: skip


def op_run(req: dict) -> dict:
    """Call a function, or build a module and call it (or run several steps on it).

    Request fields: target; init = {"args", "kwargs", "state_dict", "dtype"}
    for a class; describe: describe the built module; device; seed; forbid:
    what to watch for (watch: False skips the per-op watch); then either the
    fields of one step, or steps: a list of them, run in order on the same
    object. A step: method (default: call the object itself); mode ("train"
    or "eval", set before the call); args, kwargs (values may be objects to
    build, see build_object); grad_wrt: paths of input tensors to
    differentiate ("args.0" = first positional argument, "kw.name" = a
    keyword argument); upstream: one gradient per output tensor (backward of
    sum(out_i * upstream_i)); param_grads, return_state, return_inputs,
    no_call: booleans. With steps, the answer's "steps" holds one answer each.
    """
    device = req.get("device", "cpu")
    torch.manual_seed(req.get("seed", 0))
    watch = Watch(req.get("forbid", {})) if req.get("watch", True) else NoWatch()
    answer: dict = {}
    target = resolve(req["target"])
    with watch:
        if "init" in req:
            built: list = []  # the object and any objects among its init args
            obj = build_object({**req["init"], OBJECT_KEY: req["target"]}, device, built)
            for b in built:
                watch.scan(b)
            if req.get("describe"):
                answer["describe"] = describe(obj)
        else:
            obj = None
        if "steps" in req:
            answer["steps"] = [run_step(obj, target, step, device, watch) for step in req["steps"]]
        else:
            answer.update(run_step(obj, target, {k: req[k] for k in STEP_KEYS if k in req}, device, watch))
    answer["forbidden"] = watch.seen
    return answer


def run_step(obj, target, step: dict, device, watch) -> dict:
    grad_wrt = set(step.get("grad_wrt", []))
    built: list = []
    inputs = {"args": list(step.get("args", [])), "kw": dict(step.get("kwargs", {}))}
    inputs = _place(inputs, device, {"." + p for p in grad_wrt}, built=built)
    for b in built:
        watch.scan(b)
    snapshot = {p: t.detach().clone() for p, t in _leaves(inputs)} if step.get("return_inputs") else None
    if obj is not None and step.get("mode") in ("train", "eval"):
        obj.train(step["mode"] == "train")
    if obj is None:
        fn = target
    else:
        fn = getattr(obj, step["method"]) if step.get("method") else obj
    outputs = None if step.get("no_call") else fn(*inputs["args"], **inputs["kw"])
    watch.scan(outputs)
    answer: dict = {}
    if step.get("upstream") is not None:
        outs = _tensors(outputs)
        upstream = [u.to(device) for u in step["upstream"]]
        if len(outs) != len(upstream):
            raise TypeError(f"expected {len(upstream)} output tensors, got {len(outs)}")
        total = sum((o * u).sum() for o, u in zip(outs, upstream) if o.requires_grad)
        if isinstance(total, torch.Tensor):
            total.backward()
    answer["outputs"] = plain(outputs)
    answer["devices"] = [str(t.device) for t in _tensors(outputs)]
    if step.get("upstream") is not None:
        answer["grads"] = {p[1:]: t.grad for p, t in _leaves(inputs) if p[1:] in grad_wrt}
        if step.get("param_grads") and isinstance(obj, torch.nn.Module):
            answer["param_grads"] = {n: p.grad for n, p in obj.named_parameters()}
            obj.zero_grad(set_to_none=True)
    if step.get("return_state") and isinstance(obj, torch.nn.Module):
        answer["state_dict"] = {k: v.detach().clone() for k, v in obj.state_dict().items()}
    if snapshot is not None:
        answer["inputs_changed"] = sorted(
            p[1:] for p, t in _leaves(inputs) if p in snapshot and not torch.equal(t.detach(), snapshot[p])
        )
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
