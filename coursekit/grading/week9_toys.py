"""Week 9's grader-side pieces: the tiny GPT, the digit task, and the runner of training checks.

The model, the task and the labeler's score are the ones students get,
finished, in toy.py (the same code; a test asserts it), so the grader never
depends on a submission's copy: held-out prompts, demonstrations and
preference pairs are made here, and policies are sampled and scored here.

For the submission's process:

- `generator(seed)`: a seeded torch.Generator, passed as an argument;
- `Score()`: the labeler's score as a callable object (PPO's reward_fn);
- `Fit(target, root_class, *args, **kwargs)`: a function for nn.Module.apply
  that calls the submission's training function `target` (e.g.
  "dpo.train_dpo") on the module it is applied to, in place, once:
  `model.apply(Fit(...))` returns the model itself, so its trained weights
  come back to the grader, whatever the training function returns. apply
  visits submodules first; Fit trains only the module of class root_class.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .checks import fail

# ---------------------------------------------------------------- tokens and sizes (as toy.py)

N_DIGITS = 10
SEP = 10
PAD = 11
VOCAB_SIZE = 12
PROMPT_DIGITS = 4
PROMPT_LEN = PROMPT_DIGITS + 1  # the digits and SEP
RESPONSE_LEN = 6
LARGE = 5  # digits >= LARGE are the ones the labeler likes


# ---------------------------------------------------------------- the model (as toy.py)


@dataclass
class LMConfig:
    """The sizes of a TinyGPT. n_embd must be divisible by n_head."""

    vocab_size: int = VOCAB_SIZE
    block_size: int = PROMPT_LEN + RESPONSE_LEN  # 11
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 32


class Block(nn.Module):
    """A pre-norm Transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)), causal attention."""

    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(), nn.Linear(4 * config.n_embd, config.n_embd)
        )

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, h, T, C/h)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, h, T, C/h)
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln_2(x))


class TinyGPT(nn.Module):
    """A small causal language model: TinyGPT(config)(ids) -> logits (B, T, V); logits[:, t] predicts ids[:, t + 1]."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def hidden(self, ids):
        """ids: (B, T) long, T <= block_size. Returns the final hidden states (B, T, C), after ln_f."""
        T = ids.size(1)
        assert T <= self.config.block_size, f"sequence of {T} tokens, block_size is {self.config.block_size}"
        x = self.wte(ids) + self.wpe(torch.arange(T, device=ids.device))  # (B, T, C)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)  # (B, T, C)

    def forward(self, ids):
        return self.lm_head(self.hidden(ids))  # (B, T, V)


class ValueModel(nn.Module):
    """PPO's critic: values(ids)[b, t] = V(state after ids[b, :t + 1]): body TinyGPT, head Linear(C, 1)."""

    def __init__(self, config):
        super().__init__()
        self.body = TinyGPT(config)
        self.head = nn.Linear(config.n_embd, 1)

    def forward(self, ids):
        return self.head(self.body.hidden(ids)).squeeze(-1)  # (B, T)


class RewardModel(nn.Module):
    """The reference RewardModel of reward_model.py: a TinyGPT body and a scalar head on the last non-PAD token.
    For checks that need a reward model in the submission's process that is not the submission's own."""

    def __init__(self, config):
        super().__init__()
        self.body = TinyGPT(config)
        self.head = nn.Linear(config.n_embd, 1)

    def forward(self, ids):
        h = self.body.hidden(ids)  # (B, T, C)
        last = (ids != PAD).sum(1) - 1  # (B,)
        return self.head(h[torch.arange(ids.size(0), device=ids.device), last]).squeeze(-1)  # (B,)


# ---------------------------------------------------------------- the task (as toy.py)


def sample_prompts(n, generator):
    """n prompts: PROMPT_DIGITS random digits, then SEP. (n, PROMPT_LEN) long."""
    digits = torch.randint(N_DIGITS, (n, PROMPT_DIGITS), generator=generator)
    return torch.cat([digits, torch.full((n, 1), SEP)], dim=1)


def score(ids):
    """The labeler's score of each row: how many LARGE digits (5-9) its response holds.

    ids: (B, T) long, prompt (PROMPT_LEN tokens) then response, maybe right-padded. Returns (B,) float.
    """
    response = ids[:, PROMPT_LEN:]  # (B, T - PROMPT_LEN)
    return ((response >= LARGE) & (response < N_DIGITS)).sum(1).float()


def sample_demonstrations(n, generator):
    """n demonstrations as lists of token ids: (prompts, responses).

    Each prompt is a row of sample_prompts; its response repeats the prompt's
    digits cyclically, for a random length of 1 to RESPONSE_LEN tokens.
    """
    prompts = sample_prompts(n, generator)
    lengths = torch.randint(1, RESPONSE_LEN + 1, (n,), generator=generator)
    cycle = torch.arange(RESPONSE_LEN) % PROMPT_DIGITS  # (R,)
    responses = prompts[:, cycle]  # (n, R)
    return prompts.tolist(), [r[:k].tolist() for r, k in zip(responses, lengths.tolist())]


def sample_preferences(n, generator, min_len=2, max_len=RESPONSE_LEN):
    """n preference pairs, right-padded with PAD to PROMPT_LEN + max_len tokens.

    Each pair shares a prompt; its two responses are random digits of random
    lengths in [min_len, max_len]; the one with the higher score is chosen
    (pairs with equal scores are drawn again).

    Returns a dict of (n, T) tensors: "chosen" and "rejected" (long), and
    "chosen_mask" and "rejected_mask" (bool, True on the response tokens).
    """
    T = PROMPT_LEN + max_len
    rows = {"chosen": [], "rejected": [], "chosen_mask": [], "rejected_mask": []}
    kept = 0
    while kept < n:
        m = 2 * (n - kept) + 8
        prompts = sample_prompts(m, generator)
        pair = []
        for _ in range(2):
            response = torch.randint(N_DIGITS, (m, max_len), generator=generator)
            length = torch.randint(min_len, max_len + 1, (m, 1), generator=generator)
            mask = torch.arange(max_len) < length  # (m, max_len)
            ids = torch.cat([prompts, response.masked_fill(~mask, PAD)], dim=1)  # (m, T)
            pair.append((ids, torch.cat([torch.zeros(m, PROMPT_LEN, dtype=torch.bool), mask], dim=1)))
        (a, ma), (b, mb) = pair
        sa, sb = score(a), score(b)
        keep = (sa != sb).nonzero().flatten()[: n - kept]
        first = (sa > sb)[keep].view(-1, 1)  # (k, 1): is a the chosen one?
        rows["chosen"].append(torch.where(first, a[keep], b[keep]))
        rows["rejected"].append(torch.where(first, b[keep], a[keep]))
        rows["chosen_mask"].append(torch.where(first, ma[keep], mb[keep]))
        rows["rejected_mask"].append(torch.where(first, mb[keep], ma[keep]))
        kept += len(keep)
    return {k: torch.cat(v).view(n, T) for k, v in rows.items()}


@torch.no_grad()
def generate(model, prompts, n_tokens, generator, temperature=1.0):
    """Sample n_tokens after each prompt from model (no KV cache: the model is tiny).

    prompts: (B, P) long, on the model's device. The draws are made on the CPU
    with `generator`, so they are the same on every device. Returns (B, P + n_tokens) long.
    """
    ids = prompts
    for _ in range(n_tokens):
        logits = model(ids)[:, -1].float() / temperature  # (B, V)
        probs = F.softmax(logits, dim=-1).cpu()
        nxt = torch.multinomial(probs, 1, generator=generator).to(ids.device)  # (B, 1)
        ids = torch.cat([ids, nxt], dim=1)
    return ids


def token_logprobs(model, ids, n_tokens):
    """log pi(ids[b, t] | ids[b, :t]) of the last n_tokens tokens of each row: (B, n_tokens), with gradients."""
    logits = model(ids)[:, -n_tokens - 1 : -1]  # (B, n, V): the positions that predict the response
    return F.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, -n_tokens:].unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def evaluate_policy(policy, reference, prompts, generator):
    """The policy's mean score and mean KL(policy || reference) per response, from one sample per prompt.

    KL is estimated as the mean of sum_t [log pi(y_t) - log pi_ref(y_t)] over
    responses y drawn from the policy. Returns {"score": float, "kl": float}.
    """
    policy.eval()
    reference.eval()
    ids = generate(policy, prompts, RESPONSE_LEN, generator)
    kl = (token_logprobs(policy, ids, RESPONSE_LEN) - token_logprobs(reference, ids, RESPONSE_LEN)).sum(1)
    return {"score": score(ids).mean().item(), "kl": kl.mean().item()}


# ---------------------------------------------------------------- for the submission's process


def lm_fields() -> dict:
    """LMConfig fields of every model of the checks: plain values, sent to the submission."""
    config = LMConfig()
    return {k: getattr(config, k) for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")}


def generator(seed: int) -> torch.Generator:
    """A CPU torch.Generator seeded with `seed`."""
    return torch.Generator().manual_seed(seed)


class Score:
    """The labeler's score as an object: Score()(ids) = score(ids), on ids' device."""

    def __call__(self, ids):
        return score(ids)


class Fit:
    """nn.Module.apply(Fit(target, root_class, *args, **kwargs)) runs target(module, *args, **kwargs) once,
    on the module of class root_class, and keeps what it returned in module.fit_result."""

    def __init__(self, target: str, root_class: str, *args, **kwargs):
        self.target, self.root_class, self.args, self.kwargs = target, root_class, args, kwargs
        self.done = False

    def __call__(self, module):
        if self.done or type(module).__name__ != self.root_class:
            return
        self.done = True
        name, attr = self.target.rsplit(".", 1)
        fn = getattr(importlib.import_module(name), attr)
        module.fit_result = fn(module, *self.args, **self.kwargs)


# ---------------------------------------------------------------- judging a trained policy (in the grader)


def judge_policy(policy, start_state: dict, after: str, score_target: float, kl_bound: float, n: int = 2000) -> dict:
    """Sample the policy (a TinyGPT holding the returned weights) on n held-out prompts of the grader's;
    fail unless its mean score reaches score_target and its KL to the starting weights stays <= kl_bound."""
    reference = TinyGPT(LMConfig())
    reference.load_state_dict(start_state)
    prompts = sample_prompts(n, torch.Generator().manual_seed(9399))
    result = evaluate_policy(policy, reference, prompts, torch.Generator().manual_seed(9398))
    if result["score"] != result["score"] or result["kl"] != result["kl"]:
        fail(f"{after} the policy's score or KL is NaN")
    if not result["score"] >= score_target:
        start = evaluate_policy(reference, reference, prompts, torch.Generator().manual_seed(9398))
        fail(
            f"{after} the policy scores {result['score']:.2f} of {RESPONSE_LEN} on held-out prompts "
            f"(from {start['score']:.2f}; needs {score_target})"
        )
    if not result["kl"] <= kl_bound:
        fail(f"{after} the policy's KL to the reference is {result['kl']:.2f} nats per response (at most {kl_bound})")
    return result
