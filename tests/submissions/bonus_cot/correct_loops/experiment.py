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


@torch.no_grad()
def greedy_generate(model, idx, max_new_tokens):
    seq = idx.clone()
    while seq.size(1) < idx.size(1) + max_new_tokens:
        logits = model(seq)[0]
        seq = torch.cat((seq, logits[:, -1:, :].argmax(-1)), dim=1)
    return seq


@torch.no_grad()
def solve(model, problems, scratchpad):
    model.train(False)
    batch = [format_example(row, scratchpad) for row in problems.tolist()]
    prompts = torch.tensor([b[0] for b in batch], dtype=torch.long, device=problems.device)
    generated = greedy_generate(model, prompts, len(batch[0][1]))
    answers = []
    for row in generated:
        answers.append(parse_answer(row.tolist()))
    return answers


def train(scratchpad, steps=500, seed=0, device="cpu", batch_size=64, lr=3e-3, n_terms=N_TERMS):
    torch.manual_seed(seed)
    model = GPT(cot_config())
    model.to(device)
    g = torch.Generator()
    g.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=0.0)
    for step in range(steps):
        x, y = make_batch(sample_problems(batch_size, g, n_terms), scratchpad)
        x, y = x.to(device), y.to(device)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1), ignore_index=-100)
        model.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model


def compare(steps=500, seed=0, device="cpu", batch_size=64, lr=3e-3):
    plain = train(scratchpad=False, steps=steps, seed=seed, device=device, batch_size=batch_size, lr=lr)
    worked = train(scratchpad=True, steps=steps, seed=seed, device=device, batch_size=batch_size, lr=lr)
    return (plain, worked)
