"""`course train gpt`: the capstone run.

Trains Week 6's GPT (the reference in solutions/week6 by default, or your own
with `--code exercises/week6`) on Tiny Shakespeare characters, the way the
week's lesson describes: AdamW with weight decay on matrices only, linear
warmup then cosine decay, gradient clipping. It shows a progress bar with the
current loss, measures the validation loss every `eval_interval` steps, keeps
the checkpoint with the best validation loss, and at the end writes a loss
plot and samples text from the best checkpoint:

    OUT/ckpt.pt        model weights, config, vocabulary, step and best val loss
    OUT/history.json   train/val loss at every evaluation, and the run's timing
    OUT/loss.png       the loss curves
    OUT/samples.txt    text sampled from the best checkpoint

Ctrl-C stops the run after the current step and keeps what was finished.

Two presets match the model sizes and budgets of the runs learners compare
against (nanoGPT's Shakespeare character model): `cpu` (4 layers, 4 heads, 128
wide, context 64, batch 12, 2000 steps, no dropout) and `gpu` (6 layers, 6
heads, 384 wide, context 256, batch 64, 5000 steps, dropout 0.2). The `gpu`
preset keeps nanoGPT's learning rates (1e-3 decaying to 1e-4). The small `cpu`
model learns faster with a larger step: its peak learning rate is 5e-3,
decaying to 5e-4, which lowers the validation loss after 2000 steps by about
0.13 nats (benchmarks/capstone_vs_nanogpt.py measures it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import sys
import time
import types
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from torch.nn import functional as F

WEEK6_MODULES = ("gpt", "optim", "sampling")


@dataclass(frozen=True)
class TrainConfig:
    # model
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64
    dropout: float = 0.0
    bias: bool = False
    # data and budget
    batch_size: int = 12
    max_iters: int = 2000
    val_fraction: float = 0.1
    # optimizer and schedule
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    # evaluation
    eval_interval: int = 250
    eval_iters: int = 20
    # system
    seed: int = 1337
    dtype: str = "auto"  # float32, bfloat16 or float16 autocast; auto: bfloat16 on CUDA when supported
    compile: bool = False
    # sampling at the end
    sample_tokens: int = 500
    temperature: float = 0.8
    top_k: int | None = 200


PRESETS = {
    "cpu": TrainConfig(learning_rate=5e-3, min_lr=5e-4),
    "gpu": TrainConfig(
        n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2, batch_size=64, max_iters=5000, eval_iters=200
    ),
}


# --- the model's code: a week folder's modules, loaded under private names ---


def load_modules(folder: Path, names, prefix: str, replace: dict | None = None) -> types.SimpleNamespace:
    """Import the modules `names` of `folder` (which import each other by plain name) without
    leaving them in sys.modules under those names; `replace` maps a name to another file."""
    folder = Path(folder)
    paths = {n: Path((replace or {}).get(n, folder / f"{n}.py")) for n in names}
    missing = [f"{n}.py" for n in names if not paths[n].is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} has no {', '.join(missing)}")
    saved = {n: sys.modules.get(n) for n in names}
    modules = {}
    try:
        for name in names:
            spec = importlib.util.spec_from_file_location(f"{prefix}_{name}", paths[name])
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            modules[name] = module
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return types.SimpleNamespace(**modules)


# --- data ---


class CharData:
    """Characters to ids (the sorted set of characters in the text), split into train and val."""

    def __init__(self, text: str, val_fraction: float = 0.1, device="cpu"):
        self.chars = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}
        ids = torch.tensor(self.encode(text), dtype=torch.long)
        n_train = int(len(ids) * (1 - val_fraction))
        self.splits = {"train": ids[:n_train].to(device), "val": ids[n_train:].to(device)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self.stoi[ch] for ch in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in ids)

    def batch(self, split: str, batch_size: int, block_size: int, generator: torch.Generator):
        """Random windows: x (B, T) and the next characters y (B, T)."""
        data = self.splits[split]
        start = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
        offsets = torch.arange(block_size + 1)
        window = data[(start[:, None] + offsets).to(data.device)]  # (B, T + 1)
        return window[:, :-1].contiguous(), window[:, 1:].contiguous()


def evaluate_split(model, data: CharData, split: str, block_size: int, batch_size: int = 64) -> float:
    """Mean next-character loss over the whole split, cut into non-overlapping windows of block_size:
    the same measure for any model called as model(idx, targets) -> (logits (B, T, V), loss)."""
    ids = data.splits[split]
    n = (len(ids) - 1) // block_size
    x = ids[: n * block_size].view(n, block_size)
    y = ids[1 : n * block_size + 1].view(n, block_size)
    total = 0.0
    with torch.no_grad():
        for i in range(0, n, batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            logits, _ = model(xb, yb)  # with targets, GPT-style models return logits at every position
            total += F.cross_entropy(logits.flatten(0, 1).float(), yb.flatten(), reduction="sum")
    return float(total) / (n * block_size)


# --- training ---


def autocast_dtype(cfg: TrainConfig, device: torch.device):
    if cfg.dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    return {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[cfg.dtype]


def train(
    cfg: TrainConfig,
    text: str,
    out: Path,
    code: Path,
    device: str = "cpu",
    progress: bool = True,
    log=print,
) -> dict:
    """Train, evaluate, checkpoint, plot and sample; return the run's summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    week = load_modules(code, WEEK6_MODULES, "_capstone")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    data = CharData(text, cfg.val_fraction, device)
    model_config = week.gpt.GPTConfig(
        vocab_size=data.vocab_size,
        block_size=cfg.block_size,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        n_embd=cfg.n_embd,
        dropout=cfg.dropout,
        bias=cfg.bias,
    )
    model = week.gpt.GPT(model_config).to(device)
    optimizer = week.optim.configure_optimizer(
        model, weight_decay=cfg.weight_decay, learning_rate=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2)
    )
    step_model = torch.compile(model) if cfg.compile else model
    amp = autocast_dtype(cfg, device)
    autocast = (lambda: torch.autocast(device.type, dtype=amp)) if amp is not None else contextlib.nullcontext
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"GPT: {n_params / 1e6:.2f}M parameters, vocabulary {data.vocab_size}, on {device}")

    @torch.no_grad()
    def estimate() -> dict[str, float]:
        model.eval()
        losses = {}
        for split in ("train", "val"):
            total = 0.0
            for _ in range(cfg.eval_iters):
                x, y = data.batch(split, cfg.batch_size, cfg.block_size, gen)
                with autocast():
                    _, loss = step_model(x, y)
                total += loss.item()
            losses[split] = total / cfg.eval_iters
        model.train()
        return losses

    history = {"config": asdict(cfg), "parameters": n_params, "device": str(device), "evals": [], "train": []}
    best = {"val": math.inf, "step": None}

    def evaluate(step: int):
        losses = estimate()
        history["evals"].append({"step": step, **losses, "time": time.perf_counter() - start})
        if losses["val"] < best["val"]:
            best.update(val=losses["val"], step=step)
            checkpoint = {
                "model": model.state_dict(),
                "model_config": asdict(model_config),
                "chars": data.chars,
                "step": step,
                "best_val": losses["val"],
                "train_config": asdict(cfg),
            }
            torch.save(checkpoint, out / "ckpt.pt")
        return losses

    bar = _progress(cfg.max_iters, progress)
    start = time.perf_counter()
    interrupted = False
    step = 0
    try:
        x, y = data.batch("train", cfg.batch_size, cfg.block_size, gen)
        for step in range(cfg.max_iters):
            if step % cfg.eval_interval == 0:
                losses = evaluate(step)
                bar.set_postfix(val=f"{losses['val']:.3f}", best=f"{best['val']:.3f}")
            lr = week.optim.cosine_lr(step, cfg.learning_rate, cfg.min_lr, cfg.warmup_iters, cfg.max_iters)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast():
                _, loss = step_model(x, y)
            x, y = data.batch("train", cfg.batch_size, cfg.block_size, gen)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            if step % 10 == 0:
                history["train"].append({"step": step, "loss": loss.item()})
                bar.set_postfix(loss=f"{history['train'][-1]['loss']:.3f}", best=f"{best['val']:.3f}")
            bar.update(1)
        step = cfg.max_iters
        evaluate(step)
    except KeyboardInterrupt:
        interrupted = True
        log(f"\ninterrupted at step {step}: keeping the best checkpoint so far")
    finally:
        bar.close()
    history["train_seconds"] = time.perf_counter() - start
    history["steps"] = step
    history["interrupted"] = interrupted
    history["best_val"] = best["val"]
    history["best_step"] = best["step"]
    summary = finish(history, out, week, data, cfg, device, log)
    return summary


def finish(history: dict, out: Path, week, data: CharData, cfg: TrainConfig, device, log) -> dict:
    """Full-split validation loss, the loss plot and samples, from the best checkpoint."""
    if (out / "ckpt.pt").is_file():
        checkpoint = torch.load(out / "ckpt.pt", map_location=device)
        model = week.gpt.GPT(week.gpt.GPTConfig(**checkpoint["model_config"])).to(device)
        model.load_state_dict(checkpoint["model"])
        model.eval()
        history["best_val_full"] = evaluate_split(model, data, "val", cfg.block_size)
        if cfg.sample_tokens:
            gen = torch.Generator(device=device).manual_seed(cfg.seed)
            prompt = torch.tensor([data.encode("\n")], device=device)
            with torch.no_grad():
                ids = week.sampling.generate(
                    model, prompt, cfg.sample_tokens, temperature=cfg.temperature, top_k=cfg.top_k, generator=gen
                )
            sample = data.decode(ids[0].tolist())
            (out / "samples.txt").write_text(sample + "\n")
            log(sample)
    (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    plot_losses(history, out / "loss.png")
    log(
        f"best val loss {history['best_val']:.4f} at step {history['best_step']} "
        f"(whole val split: {history.get('best_val_full', float('nan')):.4f}); "
        f"{history['steps']} steps in {history['train_seconds']:.1f} s; results in {out}"
    )
    return history


def plot_losses(history: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if history["train"]:
        ax.plot([r["step"] for r in history["train"]], [r["loss"] for r in history["train"]], lw=0.8, alpha=0.6,
                label="train (batch)")  # fmt: skip
    evals = history["evals"]
    ax.plot([r["step"] for r in evals], [r["train"] for r in evals], "o-", label="train (estimate)")
    ax.plot([r["step"] for r in evals], [r["val"] for r in evals], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per character)")
    ax.set_title(f"GPT on Tiny Shakespeare: best val {history['best_val']:.3f}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit="step", dynamic_ncols=True)


def config_from_args(preset: str, overrides: dict) -> TrainConfig:
    cfg = PRESETS[preset]
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
