"""Hidden checks for training.py: the schedule, label smoothing, and models trained by train_model."""

import torch
from torch.nn import functional as F

from coursekit.grading.checks import expect_close, expect_state_dict, fail

PAD, BOS, EOS, N_SPECIAL = 0, 1, 2, 3


def as_float(x, what):
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return float(x)
    if type(x) in (int, float):
        return float(x)
    fail(f"{what} should be a number, got {type(x).__name__}")


def test_lr_schedule(student):
    for d_model, warmup, factor in [(512, 4000, 1.0), (32, 50, 0.6), (64, 10, 2.0)]:
        for step in sorted({1, 2, warmup // 2, warmup - 1, warmup, warmup + 1, 3 * warmup, 100 * warmup}):
            kwargs = {} if factor == 1.0 else {"factor": factor}
            got = as_float(student.call("training.rate", step, d_model, warmup, **kwargs)["outputs"], "rate(...)")
            expected = factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)
            if abs(got - expected) > 1e-12 + 1e-9 * expected:
                fail(f"rate(step={step}, d_model={d_model}, warmup={warmup}, factor={factor}) = {got:.6g}, expected {expected:.6g}")


def test_label_smoothing(student, gen):
    cases = [  # B, T, V, eps, ignore_index
        (3, 5, 7, 0.1, None),
        (2, 6, 11, 0.0, None),
        (4, 3, 5, 0.3, None),
        (2, 4, 6, 0.2, -100),
    ]
    for B, T, V, eps, ignore in cases:
        logits = torch.randn(B, T, V, generator=gen, dtype=torch.float64) * 2.0
        target = torch.randint(1, V, (B, T), generator=gen)
        target[0, -2:] = PAD  # padding
        target[-1, -1] = PAD
        if ignore is not None:
            target[1, 0] = PAD  # a real class 0 when PAD is not ignored
            target[0, 1] = ignore
        kwargs = {"eps": eps} if ignore is None else {"eps": eps, "ignore_index": ignore}
        answer = student.call("training.label_smoothed_cross_entropy", logits, target, grad_wrt=["args.0"],
                              upstream=[torch.tensor(1.0, dtype=torch.float64)], **kwargs)  # fmt: skip
        leaf = logits.clone().requires_grad_(True)
        expected = F.cross_entropy(leaf.reshape(-1, V), target.reshape(-1), label_smoothing=eps,
                                   ignore_index=PAD if ignore is None else ignore)  # fmt: skip
        expected.backward()
        case = f"V={V}, eps={eps}, ignore_index={PAD if ignore is None else ignore}"
        got = answer["outputs"]
        if isinstance(got, torch.Tensor) and got.dim() != 0:
            fail(f"the loss should be a scalar (0-dim) tensor, got shape {tuple(got.shape)}")
        expect_close(got, expected, "loss", case=f"vs F.cross_entropy(label_smoothing=...), {case}", atol=1e-10, rtol=1e-8)
        grad = answer.get("grads", {}).get("args.0")
        if grad is None:
            fail(f"no gradient reaches the logits [{case}]")
        expect_close(grad, leaf.grad, "gradient with respect to the logits", case=case, atol=1e-10, rtol=1e-8)


# --- training: train_model's weights, judged in the reference Transformer on the grader's data ---

TARGET = 0.99
HELD_OUT = 1000
COMMON = dict(batch_size=64, min_len=1, max_len=6, n_digits=8, n_heads=4, n_layers=1, dropout=0.0,
              norm_first=False, warmup=50, factor=0.6, label_smoothing=0.1, seed=0)  # fmt: skip
CONFIGS = {
    "copy": dict(COMMON, steps=300, d_model=32, d_ff=64),
    "reverse": dict(COMMON, steps=600, d_model=32, d_ff=64),
    "sort": dict(COMMON, steps=600, d_model=48, d_ff=96),
}
TARGETS = {"copy": lambda x: x, "reverse": lambda x: x.flip(0), "sort": lambda x: x.sort().values}


def held_out(task, config, seed=31337):
    """The grader's own examples, in the spec's format (src, expected greedy output)."""
    g = torch.Generator().manual_seed(seed)
    n_max = config["max_len"]
    src = torch.full((HELD_OUT, n_max + 1), PAD, dtype=torch.long)
    out = torch.full((HELD_OUT, n_max + 2), PAD, dtype=torch.long)
    out[:, 0] = BOS
    for b in range(HELD_OUT):
        n = int(torch.randint(config["min_len"], n_max + 1, (1,), generator=g))
        if task == "sort":  # distinct digits, as data.py draws them
            x = torch.randperm(config["n_digits"], generator=g)[:n]
        else:
            x = torch.randint(0, config["n_digits"], (n,), generator=g)
        src[b, :n], src[b, n] = x + N_SPECIAL, EOS
        out[b, 1 : n + 1], out[b, n + 1] = TARGETS[task](x) + N_SPECIAL, EOS
    return src, out


def trained_accuracy(student, ref, task):
    config = CONFIGS[task]
    answer = student.call("training.train_model", task, device=student.device, watch=False, **config)
    V = config["n_digits"] + N_SPECIAL
    model = ref.transformer.Transformer(
        V, V, config["d_model"], config["n_heads"], config["n_layers"], config["d_ff"], 0.0,
        max_len=config["max_len"] + 2, norm_first=config["norm_first"],
    )  # fmt: skip
    state = expect_state_dict(answer["outputs"], model.state_dict(), "train_model's result")
    model.load_state_dict(state)
    model.eval()
    src, expected = held_out(task, config)
    with torch.no_grad():
        got = ref.decoding.greedy_decode(model, src, config["max_len"] + 1)
    accuracy = (got == expected).all(dim=1).double().mean().item()
    if not accuracy >= TARGET:
        fail(
            f"after {config['steps']} steps, the trained model gets {accuracy:.1%} of held-out {task} sequences "
            f"exactly right (greedy, in the reference Transformer); needs {TARGET:.0%}"
        )


def test_train_copy(student, ref):
    trained_accuracy(student, ref, "copy")


def test_train_reversal(student, ref):
    trained_accuracy(student, ref, "reverse")


def test_train_sorting(student, ref):
    trained_accuracy(student, ref, "sort")
