"""Visible tests for experiment.py: run `pytest test_experiment.py` (the last one trains for a few seconds)."""

import torch
from experiment import accuracy, cot_config, greedy_generate, solve, train
from gpt import GPT
from scratchpad import END, N_TERMS, format_example, make_batch, sample_problems
from torch.nn import functional as F


class Oracle(torch.nn.Module):
    """A 'model' that writes the right scratchpad completion: logits peaked on the next token of it."""

    def forward(self, idx, targets=None):
        B, T = idx.shape
        logits = torch.zeros(B, T, 76)
        for b in range(B):
            prompt, completion = format_example(idx[b, :N_TERMS], scratchpad=True)
            full = prompt + completion + [END] * 20
            for t in range(T):
                logits[b, t, full[t + 1]] = 1.0
        return logits, None


def test_greedy_generate_appends_argmax_tokens():
    torch.manual_seed(0)
    model = GPT(cot_config()).eval()
    idx = torch.randint(10, (3, 5))
    out = greedy_generate(model, idx, 4)
    assert out.shape == (3, 9) and torch.equal(out[:, :5], idx)
    logits, _ = model(out[:, :8])
    assert torch.equal(out[:, 5:], logits[:, 4:8].argmax(-1)), "each new token is the argmax given the ones before"


def test_solve_with_an_oracle():
    problems = sample_problems(5, torch.Generator().manual_seed(1))
    answers = solve(Oracle(), problems, scratchpad=True)
    assert answers == [int(p.sum()) % 10 for p in problems]
    assert accuracy(Oracle(), problems, scratchpad=True) == 1.0


def test_train_learns_the_scratchpad_format():
    model = train(True, steps=60, seed=0)
    problems = sample_problems(200, torch.Generator().manual_seed(1))
    idx, targets = make_batch(problems, True)
    with torch.no_grad():
        logits, _ = model.eval()(idx)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100).item()
    assert loss < 2.5, f"completion loss {loss:.2f} after 60 steps (an untrained model: about 4.3)"
    answers = solve(model, problems[:20], scratchpad=True)
    assert sum(a is not None for a in answers) >= 15, "the format (... = d .) is learned first"
