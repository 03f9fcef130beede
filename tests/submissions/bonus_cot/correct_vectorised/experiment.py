"""Training with and without a scratchpad at the same budget, and greedy decoding of the answer.

The same small GPT (Week 6's, provided) is trained twice on the same
problems, with the same number of steps, batch size, learning rate and seed:
once on answer-only examples, once on scratchpad examples (scratchpad.py).
Then each model answers held-out problems by greedy decoding from the prompt
of its own format, and its answer is parsed from what it wrote:

    prompt -> greedy_generate -> completion -> parse_answer -> d (or None)

The exact-match accuracy (parsed answer == the last digit of the sum) tells
the two apart: with the defaults the scratchpad model solves more than 90% of
new problems after 500 steps, the answer-only one about 10%, chance.

"The same budget" here is the same problems and the same number of updates.
The scratchpad examples are longer (20 tokens against 11), so each step
costs the scratchpad model about twice the compute: the lesson's challenges
ask whether more steps would save the answer-only model.
"""

import torch
from gpt import GPT, GPTConfig
from scratchpad import N_TERMS, VOCAB_SIZE, format_example, last_digit, make_batch, parse_answer, sample_problems


def cot_config(**overrides):
    """The small GPT of this task: 2 layers, 4 heads, d = 64, context 2 N_TERMS + 4 = 20, no dropout."""
    fields = dict(vocab_size=VOCAB_SIZE, block_size=2 * N_TERMS + 4, n_layer=2, n_head=4, n_embd=64, dropout=0.0)
    return GPTConfig(**{**fields, **overrides})


def accuracy(model, problems, scratchpad):
    """Given: the share of problems whose parsed answer is the right last digit (a malformed one is wrong)."""
    answers = solve(model, problems, scratchpad)
    return sum(a == last_digit(terms) for a, terms in zip(answers, problems.tolist())) / len(answers)


# --- what you write ---


@torch.no_grad()
def greedy_generate(model, idx, max_new_tokens):
    from gpt import KVCache

    cache = KVCache()
    out = [idx]
    step = idx
    for _ in range(max_new_tokens):
        logits, _ = model(step, kv_cache=cache)
        step = torch.argmax(logits[:, -1, :], dim=-1).unsqueeze(1)
        out.append(step)
    return torch.cat(out, dim=1)


@torch.no_grad()
def solve(model, problems, scratchpad):
    was_training = model.training
    model.eval()
    prompts = [format_example(p, scratchpad)[0] for p in problems]
    idx = torch.tensor(prompts, device=problems.device)
    out = greedy_generate(model, idx, problems.size(1) + 3 if scratchpad else 2)
    model.train(was_training)
    return [parse_answer(seq) for seq in out.cpu()]


def train(scratchpad, steps=500, seed=0, device="cpu", batch_size=64, lr=3e-3, n_terms=N_TERMS):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = GPT(cot_config()).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    for _ in range(steps):
        problems = sample_problems(batch_size, gen, n_terms).to(device)
        idx, targets = make_batch(problems, scratchpad)
        _, loss = model(idx, targets)  # GPT's loss: cross-entropy with ignore_index -100, its default
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def compare(steps=500, seed=0, device="cpu", batch_size=64, lr=3e-3):
    models = {fmt: train(fmt, steps, seed, device, batch_size, lr) for fmt in (False, True)}
    return models[False], models[True]
