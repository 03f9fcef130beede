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
from scratchpad import EQ, N_TERMS, THINK, VOCAB_SIZE, last_digit, make_batch, parse_answer, sample_problems
from torch.nn import functional as F


def cot_config(**overrides):
    """The small GPT of this task: 2 layers, 4 heads, d = 64, context 2 N_TERMS + 4 = 20, no dropout."""
    fields = dict(vocab_size=VOCAB_SIZE, block_size=2 * N_TERMS + 4, n_layer=2, n_head=4, n_embd=64, dropout=0.0)
    return GPTConfig(**{**fields, **overrides})


def accuracy(model, problems, scratchpad):
    """Given: the share of problems whose parsed answer is the right last digit (a malformed one is wrong)."""
    answers = solve(model, problems, scratchpad)
    return sum(a == last_digit(terms) for a, terms in zip(answers, problems.tolist())) / len(answers)


# --- what you write ---


def greedy_generate(model, idx, max_new_tokens):
    block = model.config.block_size
    with torch.no_grad():
        for _ in range(max_new_tokens):
            context = idx if idx.size(1) <= block else idx[:, -block:]
            logits = model(context)[0]
            idx = torch.cat([idx, logits[:, -1].max(dim=-1).indices[:, None]], dim=-1)
    return idx


def solve(model, problems, scratchpad):
    model.eval()
    K = problems.shape[1]
    end_of_prompt = THINK if scratchpad else EQ
    prompts = torch.cat([problems, torch.full_like(problems[:, :1], end_of_prompt)], dim=1)
    with torch.no_grad():
        out = greedy_generate(model, prompts, K + 3 if scratchpad else 2)
    return list(map(parse_answer, out.tolist()))


def _completion_loss(model, idx, targets):
    logits, _ = model(idx)
    keep = targets != -100
    return F.cross_entropy(logits[keep], targets[keep])


def train(scratchpad, steps=500, seed=0, device="cpu", batch_size=64, lr=3e-3, n_terms=N_TERMS):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = GPT(cot_config()).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.0)
    batches = (make_batch(sample_problems(batch_size, generator, n_terms), scratchpad) for _ in range(steps))
    for idx, targets in batches:
        loss = _completion_loss(model, idx.to(device), targets.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def compare(steps=500, seed=0, device="cpu", batch_size=64, lr=3e-3):
    kwargs = dict(steps=steps, seed=seed, device=device, batch_size=batch_size, lr=lr)
    return tuple(train(scratchpad, **kwargs) for scratchpad in (False, True))
