"""The toy world of this week: a tiny GPT, a task of digits, and a labeler with a taste (finished).

Nothing to write in this file. It is the stand-in for InstructGPT's setting,
small enough that every stage of the pipeline trains in seconds on a CPU.

Tokens: the digits 0-9 (ids 0-9), SEP = 10 (the prompt ends, the response
begins) and PAD = 11 (right padding). A prompt is PROMPT_DIGITS = 4 random
digits then SEP (5 tokens); a response is a few digits after it.

    prompt          response        padding
    3 1 4 1 SEP     5 9 2 6         PAD PAD

- Demonstrations (SFT, Ouyang et al. section 3.5): a labeler answers a
  prompt by repeating its digits, cyclically, for 1 to RESPONSE_LEN tokens
  (`sample_demonstrations`).
- Preferences (the reward model, DPO): the labeler prefers the response with
  more LARGE digits (5-9); `score` is that count. `sample_preferences` draws
  two responses of random digits per prompt and orders each pair by score
  (ties are never kept).
- The policy (PPO, DPO) answers with RESPONSE_LEN sampled tokens
  (`generate`); `score` is its reward, and the KL to the reference policy
  what it pays for it.

`TinyGPT` is a pre-norm GPT (as Week 6's, without weight tying): model(ids)
gives next-token logits (B, T, V), model.hidden(ids) the final hidden states
(B, T, C) that a reward or value head reads. `ValueModel` is PPO's critic: a
TinyGPT body and a linear head giving one value per position.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

# --- tokens and sizes ---

N_DIGITS = 10
SEP = 10
PAD = 11
VOCAB_SIZE = 12
PROMPT_DIGITS = 4
PROMPT_LEN = PROMPT_DIGITS + 1  # the digits and SEP
RESPONSE_LEN = 6
LARGE = 5  # digits >= LARGE are the ones the labeler likes


# --- the model ---


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


# --- the task ---


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
