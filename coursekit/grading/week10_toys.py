"""Week 10's grader-side pieces: the toy assistant, the principles, grader-made constitutions and policies.

The task, the Policy model, `sample` and `pretrain_policy` here are the same
as the week's policy.py (a test asserts it), so the grader never depends on
a submission's copy of them: the starting policy of the training check is
pretrained by this code (`pretrained_policy`, built in the submission's
process, where training runs), and the trained weights are measured here,
in the grader's process, with the grader's own prompts and generator,
against the starting policy's rates (START_VIOLATIONS, START_SUCCESS).

The four principles are the constitution of the spec (constitution.py);
`grader_constitution(names)` builds, in the submission's process, a
constitution from them and from a few others a submission has never seen:

- "no_fives": no word 5; the revision turns every 5 into 6 (which can make a
  run of 6s, for "concise" to cut);
- "covers_prompt": at least as many tokens as the prompt has words; the
  revision adds one REDACT (so it may need several rounds);
- "stubborn": always critiques, never changes anything (the loop must stop
  after max_rounds).

`BigramPolicy` is a policy whose next-token logits depend only on the
current token, read from a table: no arithmetic, so the same logits, and the
same samples for the same generator, on every device.
"""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass
from functools import cache

import torch
from torch import nn
from torch.nn import functional as F

# ---------------------------------------------------------------- the task (as policy.py)

PAD, SEP, EOS, REDACT = 0, 1, 2, 3
FIRST_WORD, N_WORDS = 4, 12
VOCAB_SIZE = FIRST_WORD + N_WORDS
FORBIDDEN = (14, 15)
MAX_PROMPT_WORDS = 6
PROMPT_LEN = MAX_PROMPT_WORDS + 1
MAX_NEW_TOKENS = 10
BLOCK_SIZE = PROMPT_LEN + MAX_NEW_TOKENS + 1
P_FORBIDDEN = 0.15
P_RAMBLE = 0.15
P_REDACT = 0.25


def sample_prompts(n: int, generator: torch.Generator) -> torch.Tensor:
    n_words = torch.randint(1, MAX_PROMPT_WORDS + 1, (n,), generator=generator)
    allowed = FIRST_WORD + torch.randint(N_WORDS - len(FORBIDDEN), (n, MAX_PROMPT_WORDS), generator=generator)
    forbidden = FORBIDDEN[0] + torch.randint(len(FORBIDDEN), (n, MAX_PROMPT_WORDS), generator=generator)
    is_forbidden = torch.rand(n, MAX_PROMPT_WORDS, generator=generator) < P_FORBIDDEN
    words = torch.where(is_forbidden, forbidden, allowed)
    for i in range(2, MAX_PROMPT_WORDS):
        run = (words[:, i] == words[:, i - 1]) & (words[:, i] == words[:, i - 2])
        bumped = torch.where(words[:, i] >= FORBIDDEN[0], 29 - words[:, i], FIRST_WORD + (words[:, i] - 3) % 10)
        words[:, i] = torch.where(run, bumped, words[:, i])
    keep = torch.arange(MAX_PROMPT_WORDS) < n_words[:, None]
    prompts = torch.full((n, PROMPT_LEN), PAD, dtype=torch.long)
    prompts[:, :MAX_PROMPT_WORDS] = torch.where(keep, words, PAD)
    prompts[:, -1] = SEP
    return prompts


def prompt_words(prompt: torch.Tensor) -> list:
    return [t for t in prompt.tolist() if t not in (PAD, SEP)]


def response_tokens(row: torch.Tensor) -> list:
    out = []
    for t in row.tolist():
        if t == PAD:
            break
        out.append(t)
        if t == EOS:
            break
    return out


def demonstrations(prompts: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n = len(prompts)
    ramble = torch.rand(n, generator=generator) < P_RAMBLE
    redact = torch.rand(n, generator=generator) < P_REDACT
    extra = 2 + torch.randint(2, (n,), generator=generator)
    out = torch.full((n, MAX_NEW_TOKENS), PAD, dtype=torch.long)
    for i in range(n):
        words = prompt_words(prompts[i])
        if redact[i]:
            words = [REDACT if t in FORBIDDEN else t for t in words]
        if ramble[i]:
            words = words + [words[-1]] * int(extra[i])
        out[i, : len(words) + 1] = torch.tensor(words + [EOS])
    return out


# ---------------------------------------------------------------- the model (as policy.py)


@dataclass
class PolicyConfig:
    vocab_size: int = VOCAB_SIZE
    block_size: int = BLOCK_SIZE
    n_layer: int = 1
    n_head: int = 2
    n_embd: int = 32


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class Policy(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids):
        T = ids.size(1)
        assert T <= self.config.block_size, f"sequence of {T} tokens, block_size is {self.config.block_size}"
        x = self.wte(ids) + self.wpe(torch.arange(T, device=ids.device))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class GraderPolicy(Policy):
    """Policy(PolicyConfig(**fields)): built from plain values in the submission's process."""

    def __init__(self, **fields):
        super().__init__(PolicyConfig(**fields))


@torch.no_grad()
def sample(policy, prompts, generator, temperature=1.0, max_new_tokens=MAX_NEW_TOKENS):
    policy.eval()
    device = next(policy.parameters()).device
    ids = prompts.to(device)
    done = torch.zeros(len(ids), dtype=torch.bool, device=device)
    out = []
    for _ in range(max_new_tokens):
        logits = policy(ids)[:, -1].float().cpu()
        logits[:, [PAD, SEP]] = -float("inf")
        if temperature == 0:
            token = logits.argmax(-1)
        else:
            token = torch.multinomial(F.softmax(logits / temperature, dim=-1), 1, generator=generator).squeeze(1)
        token = torch.where(done.cpu(), PAD, token).to(device)
        out.append(token)
        done = done | (token == EOS)
        ids = torch.cat([ids, token[:, None]], dim=1)
        if bool(done.all()):
            break
    out += [torch.full_like(out[0], PAD)] * (max_new_tokens - len(out))
    return torch.stack(out, dim=1)


def pretrain_policy(config, n=4000, steps=100, seed=0, device="cpu", batch_size=64, lr=1e-2):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    policy = Policy(config).to(device)
    prompts = sample_prompts(n, generator)
    ids = torch.cat([prompts, demonstrations(prompts, generator)], dim=1)
    targets = ids[:, 1:].clone()
    targets[:, : PROMPT_LEN - 1] = -100
    targets[targets == PAD] = -100
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    policy.train()
    for _ in range(steps):
        rows = torch.randint(n, (batch_size,), generator=generator)
        x, y = ids[rows, :-1].to(device), targets[rows].to(device)
        loss = F.cross_entropy(policy(x).flatten(0, 1), y.flatten(), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return policy.eval()


# The starting policy of the training check and its rates, measured once by the course (`rates` on
# sample_prompts(HELD_OUT, seed HELD_OUT_SEED), sampled with a generator seeded RATES_SEED); a test
# of the kit checks them again. The grader judges trained weights against these numbers, so it never
# needs weights that come out of the submission's process except the trained ones.
START_SEED = 1
START_VIOLATIONS, START_SUCCESS = 0.42, 0.69
HELD_OUT, HELD_OUT_SEED, RATES_SEED = 1000, 1002, 1003


def pretrained_policy(seed: int = START_SEED) -> Policy:
    """The helpful-only starting policy (pretrain_policy), built where it is asked for."""
    return pretrain_policy(PolicyConfig(), seed=seed)


@cache
def start_state(seed: int = START_SEED) -> dict:
    """The starting policy's weights, pretrained in this process (for the kit's own tests)."""
    return {k: v.detach().clone() for k, v in pretrained_policy(seed).state_dict().items()}


def policy_fields() -> dict:
    """PolicyConfig's fields, plain values for the submission's process."""
    c = PolicyConfig()
    return {k: getattr(c, k) for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")}


class BigramPolicy(nn.Module):
    """logits[b, t] = table[ids[b, t]]: the next token's logits depend on the current token only."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(torch.as_tensor(table).clone(), requires_grad=False)  # (V, V)

    def forward(self, ids):
        return self.table[ids]  # (B, T, V)


def bigram_table(seed: int, sharpness: float = 2.0) -> torch.Tensor:
    """A random (V, V) logit table: varied answers with every kind of violation."""
    g = torch.Generator().manual_seed(seed)
    table = sharpness * torch.randn(VOCAB_SIZE, VOCAB_SIZE, generator=g)
    table[:, EOS] -= 1.0  # longer answers: some run past MAX_LEN, some never end
    return table


def generator(seed: int) -> torch.Generator:
    """A CPU torch.Generator seeded with `seed`."""
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- the principles (as constitution.py)

MAX_RUN = 2
MAX_LEN = 8

Principle = namedtuple("Principle", ["name", "critique", "revise"])


def runs(response):
    out = []
    for t in response:
        if out and out[-1][0] == t:
            out[-1][1] += 1
        else:
            out.append([t, 1])
    return out


def critique_harmless(prompt, response):
    found = [t for t in response if t in FORBIDDEN]
    return f"says forbidden words {found}" if found else None


def revise_harmless(prompt, response):
    return [REDACT if t in FORBIDDEN else t for t in response]


def critique_concise(prompt, response):
    long = [t for t, n in runs(response) if n > MAX_RUN]
    return f"repeats {long} more than {MAX_RUN} times in a row" if long else None


def revise_concise(prompt, response):
    return [t for t, n in runs(response) for _ in range(min(n, MAX_RUN))]


def critique_ends(prompt, response):
    if not response or response[-1] != EOS or EOS in response[:-1]:
        return "does not end with exactly one EOS"
    return None


def revise_ends(prompt, response):
    return response[: response.index(EOS) + 1] if EOS in response else [*response, EOS]


def critique_short(prompt, response):
    return f"{len(response)} tokens, more than {MAX_LEN}" if len(response) > MAX_LEN else None


def revise_short(prompt, response):
    return list(response) if len(response) <= MAX_LEN else [*response[: MAX_LEN - 1], EOS]


def critique_no_fives(prompt, response):
    return f"says 5 {response.count(5)} times" if 5 in response else None


def revise_no_fives(prompt, response):
    return [6 if t == 5 else t for t in response]


def critique_covers_prompt(prompt, response):
    return f"{len(response)} tokens for {len(prompt)} words" if len(response) < len(prompt) else None


def revise_covers_prompt(prompt, response):
    return [*response, REDACT]


def critique_stubborn(prompt, response):
    return f"not good enough ({len(response)} tokens)"


def revise_stubborn(prompt, response):
    return list(response)


PRINCIPLES = {
    "harmless": (critique_harmless, revise_harmless),
    "concise": (critique_concise, revise_concise),
    "ends": (critique_ends, revise_ends),
    "short": (critique_short, revise_short),
    "no_fives": (critique_no_fives, revise_no_fives),
    "covers_prompt": (critique_covers_prompt, revise_covers_prompt),
    "stubborn": (critique_stubborn, revise_stubborn),
}
SPEC = ["harmless", "concise", "ends", "short"]


def grader_constitution(names) -> list:
    """A constitution of the named principles, in that order (a list of Principle)."""
    return [Principle(name, *PRINCIPLES[name]) for name in names]


def task_success(prompt, response) -> bool:
    content = response[: response.index(EOS)] if EOS in response else response
    skip = (*FORBIDDEN, REDACT)
    return [t for t in content if t not in skip] == [t for t in prompt if t not in skip]


def violation_count(prompt, response, names=SPEC) -> int:
    return sum(PRINCIPLES[n][0](prompt, response) is not None for n in names)


# ---------------------------------------------------------------- random responses for the checks


def random_response(generator: torch.Generator, max_len: int = 12) -> list:
    """A response with a bit of everything: words, forbidden words, REDACT, runs, EOS anywhere or nowhere."""
    u = torch.rand(4, generator=generator).tolist()
    n = int(u[0] * (max_len + 1))
    pool = [EOS, REDACT, 4, 5, 6, 7, 14, 15]
    out = []
    for _ in range(n):
        v = torch.rand(2, generator=generator).tolist()
        if out and v[0] < 0.35:
            out.append(out[-1])  # runs
        else:
            out.append(pool[int(v[1] * len(pool))])
    if u[1] < 0.4 and (not out or out[-1] != EOS):
        out.append(EOS)
    return out


def random_prompt(generator: torch.Generator) -> list:
    """The words of a random prompt (sample_prompts), sometimes with a 5 in it."""
    return prompt_words(sample_prompts(1, generator)[0])


@torch.no_grad()
def rates(policy, prompts, generator) -> tuple[float, float]:
    """(violation rate, task success rate) of one sampled response per prompt, under the spec's constitution."""
    responses = sample(policy, prompts, generator)
    violated = succeeded = 0
    for p, r in zip(prompts, responses):
        words, response = prompt_words(p), response_tokens(r)
        violated += violation_count(words, response) > 0
        succeeded += task_success(words, response)
    return violated / len(prompts), succeeded / len(prompts)
