"""`course plot`: figures drawn by a week's own code.

Each function below imports a week's modules from `code` and draws one
figure with them: the learner's folder by default (exercises/WEEK), the
reference with `code="solutions/WEEK"`, or, in a notebook, the notebook's
own definitions with `code=globals()`. Each saves a PNG at `out` (default
plots/KIND.png) and returns the matplotlib Figure, which a notebook shows
inline. Every run is seeded and small enough for a CPU; `device` says where
the tensors live.

    attention             Week 1  attention weights of each head of your MultiHeadAttention
    positional-encoding   Week 1  the sinusoidal table and the wavelength of each pair of dimensions
    norms                 Week 2  what LayerNorm and BatchNorm1d each standardize
    gradient-flow         Week 2  the gradient reaching each block, with and without skips and norms
    transformer-training  Week 3  loss and learning rate of train_model on the reversal task
    transformer-attention Week 3  the learned cross-attention of the reversal model, per head
    lm-loss               Week 5  GPT-1's training and validation loss on Tiny Shakespeare
    gpt-loss              Week 6  a short GPT-2 run with the week's recipe (or a capstone run's history)
    scaling-law           Week 8  a sweep of tiny GPTs and your power-law fit, log-log

Code that still holds a TODO stops the plot with a `TodoError` naming it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .config import CourseError, load_course

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Kind:
    week: str
    about: str  # what the figure shows, one line (the CLI's help and the notebook's text)
    trains: bool = False  # whether it trains a model (and takes `steps`)


KINDS = {
    "attention": Kind(
        "week1",
        "the weights of each head of your MultiHeadAttention, with heads set to look back 0, 1 "
        "and 3 positions and one soft head: a wrong head split or scale shows at once",
    ),
    "positional-encoding": Kind(
        "week1",
        "your sinusoidal table, and the wavelength of each pair of dimensions measured from it against 2π·10000^(2i/d)",
    ),
    "norms": Kind(
        "week2",
        "one batch through your LayerNorm and BatchNorm1d: which of them standardizes each example "
        "and which each feature",
    ),
    "gradient-flow": Kind(
        "week2",
        "the gradient norm reaching each of 30 blocks of your DeepMLP at initialisation, "
        "with and without skips and norms",
    ),
    "transformer-training": Kind(
        "week3", "the loss and learning rate of your train_model on the reversal task", trains=True
    ),
    "transformer-attention": Kind(
        "week3",
        "what the cross-attention of your trained reversal model looks at, "
        "per head: reversal reads the source backwards",
        trains=True,
    ),
    "lm-loss": Kind("week5", "training and validation loss of your GPT-1 on Tiny Shakespeare characters", trains=True),
    "gpt-loss": Kind(
        "week6",
        "a short run of your GPT with AdamW, warmup and cosine decay and clipping, or the "
        "history of a `course train gpt` run",
        trains=True,
    ),
    "scaling-law": Kind(
        "week8", "a sweep of tiny GPTs with your sweep, and your fit_power_law through it, log-log", trains=True
    ),
}


class TodoError(CourseError):
    """The week's code still has a TODO the plot needs; str() names it."""


@functools.cache
def shown_figure_class() -> type:
    """ShownFigure: a matplotlib Figure that Jupyter shows inline (as a PNG) whatever the backend.
    (Made on first use, so that `course` starts without importing matplotlib.)"""
    from matplotlib.figure import Figure

    class ShownFigure(Figure):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=90)
            return buffer.getvalue()

    return ShownFigure


# --- a week's code, from a folder or a notebook's namespace ---


def week_code(week: str, code=None) -> types.SimpleNamespace:
    """The modules of `week`, one attribute per module name.

    `code` is a folder of the week's .py files (default: the course's
    exercises/WEEK), or a dict of names such as a notebook's globals(),
    where every module's definitions live side by side."""
    modules = load_course().week(week).all_modules
    if isinstance(code, dict):
        namespace = types.SimpleNamespace(**code)
        return types.SimpleNamespace(**{m: namespace for m in modules})
    from .train import load_modules

    folder = Path(code) if code is not None else load_course().path("exercises", week)
    try:
        return load_modules(folder, modules, f"_plot_{week}")
    except FileNotFoundError as exc:
        raise CourseError(str(exc)) from None


@contextlib.contextmanager
def todo_check(kind: str):
    """Turn a TODO still to be written (a stub's NotImplementedError) into one line naming it."""
    try:
        yield
    except NotImplementedError as exc:
        message = str(exc)
        if not message.startswith("TODO"):
            raise
        if not message.startswith("TODO: implement"):
            tb = exc.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            code = tb.tb_frame.f_code
            message = f"TODO: implement {getattr(code, 'co_qualname', code.co_name)}"
        raise TodoError(f"{message} (the {kind} plot needs it)") from None


def _figure(*size) -> Figure:
    return shown_figure_class()(figsize=size, layout="constrained")


def _save(fig: Figure, out, kind: str) -> Figure:
    path = Path(out) if out is not None else Path("plots") / f"{kind}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return fig


def _text(week: str, code) -> str:
    """Tiny Shakespeare: beside the week's code (or the notebook), else the course's data/ copy."""
    if isinstance(code, dict):
        folder = Path.cwd()
    else:
        folder = Path(code) if code is not None else load_course().path("exercises", week)
    path = folder / "tinyshakespeare.txt"
    if not path.is_file():
        path = load_course().path("data", "tinyshakespeare.txt")
    return path.read_text(encoding="utf-8")


# --- Week 1 ---


def shift_matrix(k: int, d: int) -> torch.Tensor:
    """The (d, d) map taking the sinusoidal encoding of position i to that of i - k: a rotation of
    each pair (2p, 2p + 1) by -k·w_p, with w_p = 10000^(-2p/d)."""
    w = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)  # (d/2,)
    cos, sin = torch.cos(k * w), torch.sin(k * w)
    m = torch.zeros(d, d, dtype=torch.float64)
    m[0::2, 0::2] = torch.diag(cos)  # sin((i-k)w) = sin(iw)cos(kw) - cos(iw)sin(kw)
    m[0::2, 1::2] = torch.diag(-sin)
    m[1::2, 0::2] = torch.diag(sin)  # cos((i-k)w) = cos(iw)cos(kw) + sin(iw)sin(kw)
    m[1::2, 1::2] = torch.diag(cos)
    return m.float()


# (offset k, sharpness s) of each head: head h scores s · PE[i - k] · PE[j]
HEADS = [(0, 40.0), (1, 40.0), (3, 40.0), (0, 3.0)]


def attention(code=None, device="cpu", out=None) -> Figure:
    """Attention weights of each head of your MultiHeadAttention, on a sequence of positions.

    The input at position i is the positional encoding PE[i] (width d_head),
    repeated once per head. The key, value and output projections are the
    identity; head h's query projection is s_h times the rotation that turns
    PE[i] into PE[i - k_h] (shift_matrix), so the head scores
    s_h · PE[i - k_h] · PE[j] / sqrt(d_head), largest at j = i - k_h: heads
    that look 0, 1 and 3 positions back, and a soft one that spreads its
    weight. With the causal mask nothing lies above the diagonal. Every
    number in the picture comes from your scaled_dot_product_attention,
    causal_mask, sinusoidal_positional_encoding and MultiHeadAttention.
    """
    week = week_code("week1", code)
    L, D, H = 12, 16, len(HEADS)
    with todo_check("attention"), torch.no_grad():
        pe = week.positional_encoding.sinusoidal_positional_encoding(L, D, device=device)  # (L, D)
        x = pe.float().repeat(1, H)[None]  # (1, L, H * D)
        mha = week.multi_head_attention.MultiHeadAttention(H * D, H, bias=False).to(device)
        eye = torch.eye(H * D, device=device)
        for layer in (mha.k_proj, mha.v_proj, mha.out_proj):
            layer.weight.copy_(eye)
        mha.q_proj.weight.copy_(torch.block_diag(*[s * shift_matrix(k, D) for k, s in HEADS]))
        _, weights = mha(x, x, x, mask=week.attention.causal_mask(L, device=device))  # (1, H, L, L)
    weights = weights[0].float().cpu().numpy()  # (H, L, L)
    fig = _figure(3.0 * H, 3.4)
    axes = fig.subplots(1, H, sharey=True)
    for h, (ax, (k, s)) in enumerate(zip(axes, HEADS)):
        image = ax.imshow(weights[h], cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(f"head {h}: " + (f"{k} back" if s > 10 else "soft"), fontsize=10)
        ax.set_xlabel("key position j")
        ax.set_xticks(range(0, L, 2))
        ax.set_yticks(range(0, L, 2))
    axes[0].set_ylabel("query position i")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="weight")
    fig.suptitle("Your multi-head attention, causal mask, heads set to look back k positions")
    return _save(fig, out, "attention")


def positional_encoding(code=None, device="cpu", out=None) -> Figure:
    """Your sinusoidal table (100 positions, d_model 64), and the wavelength of each pair of
    dimensions, read off the table (the angle from position 0 to 1) against 2π·10000^(2i/d)."""
    week = week_code("week1", code)
    max_len, d = 100, 64
    with todo_check("positional-encoding"):
        pe = week.positional_encoding.sinusoidal_positional_encoding(max_len, d, device=device).double().cpu()  # (L, d)
    step = torch.atan2(pe[1, 0::2], pe[1, 1::2])  # (d/2,): the angle each pair turns per position
    measured = 2 * math.pi / step.abs().clamp_min(1e-12)
    i = torch.arange(d // 2)
    expected = 2 * math.pi * 10000.0 ** (2 * i / d)
    fig = _figure(11, 4)
    ax_table, ax_wave = fig.subplots(1, 2, width_ratios=[1.3, 1])
    image = ax_table.imshow(pe.numpy(), cmap="RdBu", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax_table.set(xlabel="dimension", ylabel="position", title="PE[pos, dim]")
    fig.colorbar(image, ax=ax_table)
    ax_wave.semilogy(i.numpy(), expected.numpy(), "-", color="gray", label="2π · 10000^(2i/d)")
    ax_wave.semilogy(i.numpy(), measured.numpy(), "o", ms=4, label="measured from your table")
    ax_wave.set(xlabel="pair i (dimensions 2i, 2i+1)", ylabel="wavelength (positions)", title="wavelengths")
    ax_wave.legend()
    ax_wave.grid(alpha=0.3, which="both")
    return _save(fig, out, "positional-encoding")


# --- Week 2 ---


def norms(code=None, device="cpu", out=None) -> Figure:
    """One batch (32 examples, 16 features of very different scales and offsets) through your
    LayerNorm and BatchNorm1d (training mode): the tensors, and the spread of each example
    (over its features) and of each feature (over the batch). LayerNorm makes every example
    unit-variance, BatchNorm1d every feature."""
    week = week_code("week2", code)
    gen = torch.Generator().manual_seed(0)
    n, c = 32, 16
    scale, offset = torch.logspace(-1, 1, c), torch.linspace(-4, 4, c)  # (C,)
    x = (torch.randn(n, c, generator=gen) * scale + offset).to(device)  # (N, C)
    with todo_check("norms"), torch.no_grad():
        outputs = {
            "input": x,
            "your LayerNorm": week.layer_norm.LayerNorm(c, device=device)(x),
            "your BatchNorm1d": week.batch_norm.BatchNorm1d(c, device=device)(x),
        }
    fig = _figure(12, 6.5)
    axes = fig.subplots(2, 3, height_ratios=[1.4, 1])
    for col, (name, t) in enumerate(outputs.items()):
        t = t.float().cpu()
        limit = float(t.abs().max())
        image = axes[0, col].imshow(
            t.numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest"
        )
        axes[0, col].set(title=name, xlabel="feature", ylabel="example")
        fig.colorbar(image, ax=axes[0, col])
        ax = axes[1, col]
        ax.plot(t.std(1, unbiased=False).numpy(), "o-", ms=3, label="std of each example (over features)")
        ax.plot(t.std(0, unbiased=False).numpy(), "s-", ms=3, label="std of each feature (over the batch)")
        ax.set(yscale="log", xlabel="example / feature index", ylim=(0.03, 30))
        ax.axhline(1.0, color="gray", lw=0.8, ls=":")
    axes[1, 0].set_ylabel("standard deviation")
    axes[1, 0].legend(fontsize=8)
    fig.suptitle("LayerNorm standardizes each example; BatchNorm1d each feature")
    return _save(fig, out, "norms")


def gradient_flow(code=None, device="cpu", out=None, depth=30, width=64) -> Figure:
    """The gradient reaching each block (your gradient_norms) of DeepMLPs of `depth` blocks at
    PyTorch's default initialisation, plain and residual, with no norm, LayerNorm and BatchNorm1d,
    on one random regression batch."""
    week = week_code("week2", code)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(128, 16, generator=gen).to(device)
    y = torch.randn(128, 4, generator=gen).to(device)
    results = {}
    with todo_check("gradient-flow"):
        for norm in (None, "layer", "batch"):
            for residual in (False, True):
                torch.manual_seed(0)
                model = week.residual.DeepMLP(16, width, depth, 4, norm=norm, residual=residual, device=device)
                label = f"{'residual' if residual else 'plain'}, {norm or 'no'} norm"
                results[label] = week.residual.gradient_norms(model, x, y)
    fig = _figure(7.5, 4.5)
    ax = fig.subplots()
    for (label, values), color in zip(results.items(), ["C0", "C0", "C1", "C1", "C2", "C2"]):
        ax.semilogy(range(len(values)), values, "-" if label.startswith("residual") else "--", color=color,
                    label=label)  # fmt: skip
    ax.set(xlabel="block (0: nearest the input)", ylabel="‖d loss / d fc1.weight‖",
           title=f"Gradient reaching each of {depth} blocks at initialisation")  # fmt: skip
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, out, "gradient-flow")


# --- Week 3 ---

# the graded check's reversal model (graders/week3): 1 layer, 32 wide, 4 heads
REVERSAL = {"batch_size": 64, "min_len": 1, "max_len": 6, "n_digits": 8, "d_model": 32, "n_heads": 4, "n_layers": 1,
            "d_ff": 64, "dropout": 0.0, "warmup": 50, "factor": 0.6, "seed": 0}  # fmt: skip


_last_reversal: dict = {}  # the last reversal run: {"key": ..., "result": (model, log)}


def _train_reversal(week, device, steps):
    """Your train_model on reversal, and its log. A notebook draws both Week 3 figures from one run:
    the run is kept while the same code (the same function and class objects) asks again."""
    code = {id(v): v for m in vars(week).values() for v in vars(m).values() if callable(v)}
    key = (steps, str(device), frozenset(code))
    if _last_reversal.get("key") != key:
        log = []
        model = week.training.train_model("reverse", steps=steps, device=device, log=log, **REVERSAL)
        _last_reversal.update(key=key, code=code, result=(model, log))  # `code` keeps the ids in use
    return _last_reversal["result"]


def _reversal_accuracy(week, model, device, n=200):
    """The share of n new reversal examples that your greedy_decode gets exactly right."""
    cfg = REVERSAL
    gen = torch.Generator().manual_seed(1234)
    src, tgt = week.data.make_batch("reverse", n, cfg["min_len"], cfg["max_len"], cfg["n_digits"], gen, device)
    out = week.decoding.greedy_decode(model, src, cfg["max_len"] + 1)  # (n, max_len + 2), as tgt
    return (out == tgt).all(1).float().mean().item()


def transformer_training(code=None, device="cpu", out=None, steps=300) -> Figure:
    """Your train_model on the reversal task (the graded check's model: 1 layer, 32 wide, 4 heads):
    the label-smoothed loss of every step, and the learning rate of your rate()."""
    week = week_code("week3", code)
    with todo_check("transformer-training"):
        _, log = _train_reversal(week, device, steps)
    s = [e["step"] for e in log]
    fig = _figure(10, 3.6)
    ax_loss, ax_lr = fig.subplots(1, 2)
    ax_loss.plot(s, [e["loss"] for e in log], lw=0.9)
    ax_loss.set(xlabel="step", ylabel="label-smoothed loss", yscale="log",
                title=f"reversal: loss {log[-1]['loss']:.3f} at step {s[-1]}")  # fmt: skip
    ax_lr.plot(s, [e["lr"] for e in log])
    ax_lr.set(xlabel="step", ylabel="learning rate", title="warmup, then 1/sqrt(step)")
    for ax in (ax_loss, ax_lr):
        ax.grid(alpha=0.3, which="both")
    return _save(fig, out, "transformer-training")


def transformer_attention(code=None, device="cpu", out=None, steps=300) -> Figure:
    """Train the reversal model with your train_model, greedy-decode one new source with your
    greedy_decode, and show the weights of every cross-attention head (rows: output tokens,
    columns: source tokens). A model that reverses reads the source backwards: an anti-diagonal."""
    week = week_code("week3", code)
    captured = []
    with todo_check("transformer-attention"):
        model, _ = _train_reversal(week, device, steps)
        accuracy = _reversal_accuracy(week, model, device)
        n, gen = REVERSAL["max_len"], torch.Generator().manual_seed(7)
        src, _ = week.data.make_batch("reverse", 1, n, n, REVERSAL["n_digits"], gen, device)  # (1, n + 1)
        tokens = week.decoding.greedy_decode(model, src, REVERSAL["max_len"] + 1)  # (1, T)
        layers = [layer.cross_attn for layer in model.decoder_layers]
        hooks = [m.register_forward_hook(lambda mod, args, output: captured.append(output[1])) for m in layers]
        try:
            with torch.no_grad():
                mask = week.data.padding_mask(src)
                model.decode(tokens[:, :-1], model.encode(src, mask), mask)
        finally:
            for hook in hooks:
                hook.remove()
    names = {week.data.PAD: "·", week.data.BOS: "BOS", week.data.EOS: "EOS"}

    def label(t):
        return names.get(int(t), str(int(t) - week.data.N_SPECIAL))

    src_labels = [label(t) for t in src[0]]
    out_labels = [label(t) for t in tokens[0, 1:]]  # the token each decoder position predicts
    n_layers, n_heads = len(captured), captured[0].size(1)
    fig = _figure(2.7 * n_heads + 1, 2.9 * n_layers + 0.6)
    axes = fig.subplots(n_layers, n_heads, squeeze=False)
    for i, weights in enumerate(captured):
        for h in range(n_heads):
            ax = axes[i, h]
            image = ax.imshow(weights[0, h].float().cpu().numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_xticks(range(len(src_labels)), src_labels, fontsize=8)
            ax.set_yticks(range(len(out_labels)), out_labels, fontsize=8)
            ax.set_title(f"layer {i}, head {h}", fontsize=9)
            ax.set_xlabel("source")
        axes[i, 0].set_ylabel("output token")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="weight")
    fig.suptitle(f"Cross-attention of your reversal model ({accuracy:.0%} of 200 new sequences exact)")
    return _save(fig, out, "transformer-attention")


# --- Week 5 ---


def lm_loss(code=None, device="cpu", out=None, steps=300) -> Figure:
    """Your train_lm on Tiny Shakespeare characters (2 layers, 64 wide, context 32, no dropout,
    batch 32, lr 3e-3): the loss of each batch and, every 100 steps, your estimate_loss on the
    held-out 10%."""
    week = week_code("week5", code)
    text = _text("week5", code)
    with todo_check("lm-loss"):
        vocab = week.training.CharVocab(text)
        train, val = week.training.split_text(text)
        train_ids, val_ids = vocab.encode(train), vocab.encode(val)
        config = week.gpt1.GPTConfig(vocab_size=vocab.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=64,
                                     dropout=0.0)  # fmt: skip
        log = []
        week.training.train_lm(train_ids, config, steps=steps, batch_size=32, lr=3e-3, seed=0, device=device,
                               log=log, val_data=val_ids)  # fmt: skip
    fig = _figure(7, 4)
    ax = fig.subplots()
    ax.plot([e["step"] for e in log], [e["loss"] for e in log], lw=0.8, alpha=0.6, label="training batch")
    val_points = [e for e in log if "val_loss" in e]
    ax.plot([e["step"] for e in val_points], [e["val_loss"] for e in val_points], "o-", label="validation")
    ax.axhline(math.log(vocab.vocab_size), color="gray", ls=":", label=f"uniform guess, ln {vocab.vocab_size}")
    ax.set(xlabel="step", ylabel="loss (nats per character)",
           title=f"GPT-1 on Tiny Shakespeare: validation {val_points[-1]['val_loss']:.3f}")  # fmt: skip
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, out, "lm-loss")


# --- Week 6 ---


def gpt_loss(code=None, device="cpu", out=None, steps=300, run=None) -> Figure:
    """Loss curves of Week 6's GPT on Tiny Shakespeare characters.

    With `run` (a `course train gpt` output folder, or its history.json),
    the curves of that run. Otherwise a short run of your code with the
    week's recipe: your GPT (2 layers, 4 heads, 64 wide, context 64), your
    configure_optimizer (weight decay 0.1), your cosine_lr (warmup over the
    first tenth, peak 3e-3, down to 3e-4) and your clip_grad_norm at 1.0,
    the validation loss estimated every 50 steps.
    """
    if run is not None:
        history = _history(run)
        title = f"{Path(run).name}: best validation {history['best_val']:.3f} at step {history['best_step']}"
    else:
        history = _short_gpt_run(week_code("week6", code), device, steps)
        title = f"your GPT, {steps} steps: validation {history['evals'][-1]['val']:.3f}"
    evals = history["evals"]
    fig = _figure(7, 4)
    ax = fig.subplots()
    if history.get("train"):
        ax.plot([r["step"] for r in history["train"]], [r["loss"] for r in history["train"]], lw=0.8, alpha=0.6,
                label="training batch")  # fmt: skip
    ax.plot([r["step"] for r in evals], [r["train"] for r in evals], "o-", ms=4, label="train (estimate)")
    ax.plot([r["step"] for r in evals], [r["val"] for r in evals], "o-", ms=4, label="validation")
    ax.set(xlabel="step", ylabel="cross-entropy (nats per character)", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, out, "gpt-loss")


def _history(run) -> dict:
    path = Path(run)
    path = path / "history.json" if path.is_dir() else path
    if not path.is_file():
        raise CourseError(f"no history.json at {path}: run `course train gpt` first")
    return json.loads(path.read_text())


def _short_gpt_run(week, device, steps, block_size=64, batch_size=16, eval_every=50, eval_iters=10) -> dict:
    from .train import CharData

    data = CharData(load_course().path("data", "tinyshakespeare.txt").read_text(encoding="utf-8"), 0.1, device)
    gen = torch.Generator().manual_seed(0)
    history = {"evals": [], "train": []}
    with todo_check("gpt-loss"):
        torch.manual_seed(0)
        config = week.gpt.GPTConfig(vocab_size=data.vocab_size, block_size=block_size, n_layer=2, n_head=4,
                                    n_embd=64, dropout=0.0)  # fmt: skip
        model = week.gpt.GPT(config).to(device)
        optimizer = week.optim.configure_optimizer(model, weight_decay=0.1, learning_rate=3e-3, betas=(0.9, 0.99))

        @torch.no_grad()
        def evaluate(step):
            model.eval()
            row = {"step": step}
            for split in ("train", "val"):
                losses = [model(*data.batch(split, batch_size, block_size, gen))[1].item() for _ in range(eval_iters)]
                row[split] = sum(losses) / len(losses)
            history["evals"].append(row)
            model.train()

        model.train()
        for step in range(steps):
            if step % eval_every == 0:
                evaluate(step)
            lr = week.optim.cosine_lr(step, 3e-3, 3e-4, max(1, steps // 10), steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            _, loss = model(*data.batch("train", batch_size, block_size, gen))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            week.optim.clip_grad_norm(model.parameters(), 1.0)
            optimizer.step()
            history["train"].append({"step": step, "loss": loss.item()})
        evaluate(steps)
    return history


# --- Week 8 ---

SCALING_SIZES = [(1, 1, 8), (1, 2, 16), (2, 2, 24), (2, 2, 32), (2, 4, 48)]  # (n_layer, n_head, n_embd)


def scaling_law(code=None, device="cpu", out=None, steps=200, sizes=SCALING_SIZES) -> Figure:
    """Your sweep over small GPTs (model.py; context 32, batch 16, the same `steps` each) on Tiny
    Shakespeare, each model's loss on 20 000 held-out characters, and your fit_power_law through
    the points, on log-log axes: L(N) = a·N^(-α) + c."""
    from matplotlib.ticker import FormatStrFormatter

    week = week_code("week8", code)
    text = _text("week8", code)
    with todo_check("scaling-law"):
        vocab = week.sweep.char_vocab(text)
        data = week.sweep.encode(text, vocab)
        split = int(0.9 * len(data))
        train, val = data[:split], data[split : split + 20_000]
        configs = [week.model.GPTConfig(len(vocab), 32, n_layer, n_head, n_embd) for n_layer, n_head, n_embd in sizes]
        points, _ = week.sweep.sweep(configs, train, val, steps=steps, batch_size=16, lr=3e-3, seed=0, device=device)
        fit = week.power_law.fit_power_law([p[0] for p in points], [p[1] for p in points])
    a, alpha, c = (float(v) for v in fit)
    n = torch.tensor([float(p[0]) for p in points], dtype=torch.float64)
    loss = torch.tensor([float(p[1]) for p in points], dtype=torch.float64)
    grid = torch.logspace(math.log10(n.min()) - 0.3, math.log10(n.max()) + 0.7, 200, dtype=torch.float64)
    fig = _figure(6.5, 4.5)
    ax = fig.subplots()
    ax.loglog(n.numpy(), loss.numpy(), "o", label="your sweep")
    ax.loglog(grid.numpy(), (a * grid ** (-alpha) + c).numpy(), "-", label=f"fit: {a:.3g}·N^(-{alpha:.3f}) + {c:.3g}")
    if c > 0:
        ax.axhline(c, ls=":", color="gray", label="irreducible c")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.1f"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%.1f"))
    ax.set(xlabel="non-embedding parameters N", ylabel="validation loss (nats per character)",
           title=f"{len(points)} tiny GPTs, {steps} steps each: α = {alpha:.3f}")  # fmt: skip
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return _save(fig, out, "scaling-law")


def plot(kind: str, code=None, device="cpu", out=None, **options) -> Figure:
    """The figure of `kind` (a key of KINDS)."""
    if kind not in KINDS:
        raise CourseError(f"unknown plot {kind!r}; one of: {', '.join(KINDS)}")
    return globals()[kind.replace("-", "_")](code=code, device=device, out=out, **options)
