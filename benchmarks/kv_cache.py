"""Week 6's KV cache: generation with and without it, in tokens per second.

    python benchmarks/kv_cache.py [--tokens 200] [--prompt 8] [--batch 1] [--block-size 256] [--repeat 3]
                                  [--threads N] [--device cpu|cuda] [--solution solutions/week6]

Builds a small GPT (4 layers, 4 heads, 128 wide, block_size 256: nanoGPT's
CPU Shakespeare model, with a longer context) from the Week 6 reference (or another
folder with gpt.py and sampling.py, such as your exercises/week6), generates
--tokens tokens after a random prompt with use_cache=True and then with
use_cache=False, and prints the best of --repeat runs of each, in new tokens
per second, and the speed-up. Both runs use the same generator seed, and the
script checks that they give the same tokens. --threads sets torch's intra-op
threads for the run (default: torch's own choice).
"""

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=200, help="new tokens per run")
    p.add_argument("--prompt", type=int, default=8, help="prompt length")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--block-size", type=int, default=256, help="the model's context length")
    p.add_argument("--repeat", type=int, default=3, help="runs of each kind; the fastest counts")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--solution", default=str(ROOT / "solutions" / "week6"), help="folder with gpt.py and sampling.py")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(args.solution).resolve()))
    from gpt import GPT, GPTConfig
    from sampling import generate

    config = GPTConfig(vocab_size=65, block_size=args.block_size, n_layer=4, n_head=4, n_embd=128)
    if args.prompt + args.tokens > config.block_size:
        p.error(f"--prompt + --tokens must fit in block_size ({config.block_size}) for the cache to be used throughout")
    torch.manual_seed(0)
    model = GPT(config).to(args.device).eval()
    prompt = torch.randint(config.vocab_size, (args.batch, args.prompt), device=args.device)

    def run(use_cache):
        generator = torch.Generator(device=args.device).manual_seed(1)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = generate(model, prompt, args.tokens, top_k=40, generator=generator, use_cache=use_cache)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start, out

    print(f"GPT {config.n_layer} layers x {config.n_embd}, {model.num_parameters() / 1e6:.2f}M parameters; "
          f"batch {args.batch}, prompt {args.prompt}, {args.tokens} new tokens; device {args.device}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    run(True)  # warm-up
    results = {}
    for use_cache in (True, False):
        times, outs = zip(*(run(use_cache) for _ in range(args.repeat)))
        results[use_cache] = (min(times), outs[0])
    if not torch.equal(results[True][1], results[False][1]):
        print("warning: cached and uncached generation gave different tokens")
    for use_cache, label in ((True, "with KV cache"), (False, "without cache")):
        seconds = results[use_cache][0]
        print(f"{label:>14}: {args.tokens * args.batch / seconds:9.1f} tokens/s  ({seconds:.3f} s)")
    print(f"{'speed-up':>14}: {results[False][0] / results[True][0]:9.2f}x")


if __name__ == "__main__":
    main()
