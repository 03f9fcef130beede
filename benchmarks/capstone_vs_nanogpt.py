"""The capstone GPT (`course train gpt`) against nanoGPT, side by side, on the same machine.

    git clone https://github.com/karpathy/nanoGPT /tmp/nanoGPT
    python benchmarks/capstone_vs_nanogpt.py --nanogpt /tmp/nanoGPT [--preset cpu|gpu] [--device cpu|cuda] [--seeds 3]

Both train a character-level GPT of the same size on the same Tiny Shakespeare
split (the course's data/tinyshakespeare.txt, characters in sorted order, the
first 90% for training) with the same budget: nanoGPT's own Shakespeare
settings (its README's CPU command for `cpu`, config/train_shakespeare_char.py
for `gpu`) and the capstone's preset of the same name. nanoGPT runs from a
scratch copy of its train.py, model.py, configurator.py and config/ (the clone
is not modified); its data files are written there in its own format.
nanoGPT seeds torch with 1337 (plus the DDP rank); run k of `--seeds N` adds k
to that seed through a small launcher, and gives the capstone seed 1337 + k.
The two sides alternate within each seed, so a change in the machine's load
falls on both.

Reported for each side, per seed and as a mean over seeds:
  wall        the whole training command, start to exit, in seconds
  best val    the best of the periodic validation estimates, as each prints it
              (eval_iters random batches: noisy, and the minimum of several)
  full val    the best checkpoint's loss on the WHOLE validation split, in windows
              of the context length, measured here by the same code for both
The results also go to benchmarks/results/capstone-PRESET-DEVICE.json.
"""

import argparse
import json
import pickle
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coursekit.train import CharData, evaluate_split, load_modules

NANOGPT_ARGS = {
    # nanoGPT's README, "I only have a macbook" (the CPU run)
    "cpu": [
        "--compile=False", "--eval_iters=20", "--log_interval=1", "--block_size=64", "--batch_size=12",
        "--n_layer=4", "--n_head=4", "--n_embd=128", "--max_iters=2000", "--lr_decay_iters=2000", "--dropout=0.0",
    ],
    "gpu": [],  # config/train_shakespeare_char.py as it is
}  # fmt: skip
NANOGPT_FILES = ["train.py", "model.py", "configurator.py", "config"]
SEED = 1337  # nanoGPT's, and the capstone presets'
# Runs nanoGPT's train.py with every torch.manual_seed(s) turned into torch.manual_seed(s + OFFSET).
SEEDED_LAUNCHER = """import runpy, sys, torch
offset = int(sys.argv.pop(1))
_manual_seed = torch.manual_seed
torch.manual_seed = lambda s: _manual_seed(s + offset)
runpy.run_path("train.py", run_name="__main__")
"""


def prepare_nanogpt(clone: Path, work: Path, text: str) -> Path:
    """A scratch copy of nanoGPT with the Shakespeare characters in its data format."""
    run = work / "nanogpt"
    run.mkdir()
    for name in NANOGPT_FILES:
        src = clone / name
        if not src.exists():
            sys.exit(f"{clone} is not a nanoGPT checkout: no {name}")
        (shutil.copytree if src.is_dir() else shutil.copy)(src, run / name)
    data = CharData(text, val_fraction=0.1)
    folder = run / "data" / "shakespeare_char"
    folder.mkdir(parents=True)
    for split, ids in data.splits.items():
        np.asarray(ids.numpy(), dtype=np.uint16).tofile(folder / f"{split}.bin")
    meta = {"vocab_size": data.vocab_size, "itos": dict(enumerate(data.chars)), "stoi": data.stoi}
    (folder / "meta.pkl").write_bytes(pickle.dumps(meta))
    (run / "seeded_train.py").write_text(SEEDED_LAUNCHER)
    return run


def run_nanogpt(run: Path, preset: str, device: str, compile_: bool, offset: int) -> dict:
    out = run / f"out-{offset}"
    cmd = [sys.executable, "seeded_train.py", str(offset), "config/train_shakespeare_char.py"]
    cmd += [f"--device={device}", f"--out_dir={out}"]
    cmd += NANOGPT_ARGS[preset]
    if preset == "gpu" and not compile_:
        cmd.append("--compile=False")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=run, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"nanoGPT failed:\n{proc.stderr[-3000:]}")
    vals = [float(v) for v in re.findall(r"val loss ([0-9.]+)", proc.stdout)]
    model = load_modules(run, ["model"], "_nanogpt").model
    checkpoint = torch.load(out / "ckpt.pt", map_location=device)
    net = model.GPT(model.GPTConfig(**checkpoint["model_args"]))
    net.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()})
    return {
        "wall": wall,
        "best_val": min(vals),
        "net": net.to(device),
        "block_size": checkpoint["model_args"]["block_size"],
    }


def run_course(work: Path, preset: str, device: str, code: Path, compile_: bool, offset: int) -> dict:
    out = work / f"course-{offset}"
    cmd = [sys.executable, "-m", "coursekit.cli", "train", "gpt", f"--preset={preset}", f"--device={device}"]
    cmd += [f"--out={out}", f"--code={code}", f"--seed={SEED + offset}", "--quiet", "--set", "sample_tokens=0"]
    if compile_:
        cmd.append("--compile")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"course train failed:\n{proc.stderr[-3000:]}")
    history = json.loads((out / "history.json").read_text())
    week = load_modules(code, ["gpt", "optim", "sampling"], "_course")
    checkpoint = torch.load(out / "ckpt.pt", map_location=device)
    net = week.gpt.GPT(week.gpt.GPTConfig(**checkpoint["model_config"]))
    net.load_state_dict(checkpoint["model"])
    return {
        "wall": wall,
        "best_val": history["best_val"],
        "net": net.to(device),
        "block_size": history["config"]["block_size"],
    }


def summarise(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds of wall, best_val and full_val."""
    out = {}
    for key in ("wall", "best_val", "full_val"):
        values = np.array([r[key] for r in runs], dtype=float)
        out[key] = float(values.mean())
        out[key + "_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nanogpt", required=True, type=Path, help="a nanoGPT checkout")
    p.add_argument("--preset", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--code", type=Path, default=ROOT / "solutions" / "week6", help="the capstone's model code")
    p.add_argument("--compile", action="store_true", help="torch.compile both (nanoGPT's default on GPU)")
    p.add_argument(
        "--order",
        choices=["nanogpt-first", "course-first"],
        default="nanogpt-first",
        help="which side trains first for the first seed (the sides alternate after)",
    )
    p.add_argument("--seeds", type=int, default=1, help="train each side this many times, seeds 1337, 1338, ...")
    args = p.parse_args()
    text = (ROOT / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    data = CharData(text, val_fraction=0.1, device=args.device)
    runs = {"nanoGPT": [], "course": []}
    with tempfile.TemporaryDirectory(prefix="capstone-bench-") as tmp:
        work = Path(tmp)
        run = prepare_nanogpt(args.nanogpt.resolve(), work, text)
        for offset in range(args.seeds):
            sides = {
                "nanoGPT": partial(run_nanogpt, run, args.preset, args.device, args.compile, offset),
                "course": partial(
                    run_course, work, args.preset, args.device, args.code.resolve(), args.compile, offset
                ),
            }
            order = list(sides) if (args.order == "nanogpt-first") == (offset % 2 == 0) else list(sides)[::-1]
            for name in order:
                print(f"training {name} ({args.preset} preset on {args.device}, seed {SEED + offset}) ...", flush=True)
                r = sides[name]()
                r["net"].eval()
                r["full_val"] = evaluate_split(r["net"], data, "val", r["block_size"])
                del r["net"]
                runs[name].append({"seed": SEED + offset, **r})
                print(f"  {r['wall']:.1f} s, best val {r['best_val']:.4f}, full val {r['full_val']:.4f}", flush=True)
    results = {name: {"runs": rs, **summarise(rs)} for name, rs in runs.items()}
    print(f"\nmeans over {args.seeds} seed(s), with the spread (standard deviation) over seeds")
    print(f"{'':10} {'wall (s)':>15} {'best val':>17} {'full val':>17}")
    for name, r in results.items():
        cols = [f"{r[k]:.4f} ± {r[k + '_sd']:.4f}" for k in ("best_val", "full_val")]
        print(f"{name:10} {r['wall']:8.1f} ± {r['wall_sd']:4.1f} {cols[0]:>17} {cols[1]:>17}")
    report = {
        "preset": args.preset,
        "device": args.device,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        "torch": torch.__version__,
        "seeds": args.seeds,
        "results": results,
    }
    out = ROOT / "benchmarks" / "results" / f"capstone-{args.preset}-{args.device.split(':')[0]}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
