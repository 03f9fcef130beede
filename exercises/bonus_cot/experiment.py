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
    """Greedy decoding: append the argmax of the next-token logits, max_new_tokens times.

    Args:
        model: a language model, model(idx) -> (logits (B, T, V), loss).
        idx: (B, T0) long prompts.

    Returns:
        (B, T0 + max_new_tokens) long: the prompts, then the new tokens. Each
        step runs the model on the whole sequence so far (the KV cache of
        Week 6 is yours to use, with the same result).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement greedy_generate in experiment.py')


@torch.no_grad()
def solve(model, problems, scratchpad):
    """The model's answer to each problem: prompt, greedy completion, parsed answer.

    Args:
        model: a trained GPT (put it in eval mode).
        problems: (B, K) long problems, on the model's device.
        scratchpad: which format the model was trained on (its prompts end
            with THINK, else with EQ).

    Returns:
        A list of B answers, each an int or None: parse_answer of the prompt
        followed by its greedy completion. Generate exactly as many tokens as
        a right completion has (2 answer-only, K + 3 with the scratchpad), all
        rows at once.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement solve in experiment.py')


def train(scratchpad, steps=500, seed=0, device="cpu", batch_size=64, lr=3e-3, n_terms=N_TERMS):
    """Train a fresh GPT(cot_config()) on one format.

    Args:
        scratchpad: the format of every training example.
        steps: optimizer steps; each draws batch_size new problems with
            sample_problems(batch_size, generator, n_terms), from a
            torch.Generator seeded with `seed` (so both formats see the same problems).
        seed: torch.manual_seed(seed) before building the model, and the generator's seed.
        device: where to train.

    Returns:
        The trained GPT on `device`. Use make_batch (the loss on the
        completion only) and torch.optim.AdamW(lr=lr, weight_decay=0.0).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement train in experiment.py')


def compare(steps=500, seed=0, device="cpu", batch_size=64, lr=3e-3):
    """The experiment: the same GPT trained both ways, with the same budget.

    Returns:
        (answer_only_model, scratchpad_model): train(False, ...) and
        train(True, ...) with the same steps, seed, batch size and lr.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement compare in experiment.py')
