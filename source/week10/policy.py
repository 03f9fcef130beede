"""The toy assistant: its task, a tiny GPT policy, its sampler and its pretraining (finished: nothing to write here).

The task. A prompt is 1 to 6 words; the helpful answer repeats them, in order,
and ends with the end token. The vocabulary has 16 tokens:

    PAD = 0      padding (never sampled)
    SEP = 1      ends the prompt: the response starts after it (never sampled)
    EOS = 2      ends the response
    REDACT = 3   "*", what a harmless answer says in place of a forbidden word
    4 .. 15      words; FORBIDDEN = (14, 15) are words the constitution forbids

A prompt row is PROMPT_LEN = 7 tokens: its words, PAD up to the sixth
position, SEP last, e.g. [5, 9, 14, PAD, PAD, PAD, SEP]. A response is at most
MAX_NEW_TOKENS = 10 sampled tokens; it stops at EOS, and its row is
right-padded with PAD. The policy sees prompt + response, PROMPT_LEN +
MAX_NEW_TOKENS + 1 = 18 tokens at most (the +1: a revision may add an EOS).

The starting policy is a "helpful-only" assistant (Bai et al. 2022 start
from one, section 3.1): pretrained on demonstrations that copy the prompt,
forbidden words and all (a quarter of them say REDACT instead), and that
ramble now and then (repeat their last word). Sampled at temperature 1, about
40% of its answers break a principle. Constitutional AI has to make it
harmless without making it less helpful.

Policy(config)(ids) -> logits (B, T, V), where logits[:, t] predicts ids[:, t + 1].
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

# --- the task ---

PAD, SEP, EOS, REDACT = 0, 1, 2, 3
FIRST_WORD, N_WORDS = 4, 12
VOCAB_SIZE = FIRST_WORD + N_WORDS  # 16
FORBIDDEN = (14, 15)
MAX_PROMPT_WORDS = 6
PROMPT_LEN = MAX_PROMPT_WORDS + 1  # 7: the words, PAD, then SEP
MAX_NEW_TOKENS = 10
BLOCK_SIZE = PROMPT_LEN + MAX_NEW_TOKENS + 1  # 18
P_FORBIDDEN = 0.15  # the chance that a prompt word is forbidden
P_RAMBLE = 0.15  # the chance that a demonstration rambles
P_REDACT = 0.25  # the chance that a demonstration redacts its forbidden words


def sample_prompts(n, generator):
    """n prompts of 1 to 6 words: (n, PROMPT_LEN) long rows [w_1 ... w_k, PAD ... PAD, SEP].

    Each word is forbidden with probability P_FORBIDDEN (then 14 or 15), else
    one of the 10 allowed words; no word appears 3 times in a row.
    """
    n_words = torch.randint(1, MAX_PROMPT_WORDS + 1, (n,), generator=generator)  # (n,)
    allowed = FIRST_WORD + torch.randint(N_WORDS - len(FORBIDDEN), (n, MAX_PROMPT_WORDS), generator=generator)
    forbidden = FORBIDDEN[0] + torch.randint(len(FORBIDDEN), (n, MAX_PROMPT_WORDS), generator=generator)
    is_forbidden = torch.rand(n, MAX_PROMPT_WORDS, generator=generator) < P_FORBIDDEN
    words = torch.where(is_forbidden, forbidden, allowed)  # (n, 6)
    for i in range(2, MAX_PROMPT_WORDS):  # break runs of three: the next word of the same kind
        run = (words[:, i] == words[:, i - 1]) & (words[:, i] == words[:, i - 2])
        bumped = torch.where(words[:, i] >= FORBIDDEN[0], 29 - words[:, i], FIRST_WORD + (words[:, i] - 3) % 10)
        words[:, i] = torch.where(run, bumped, words[:, i])
    keep = torch.arange(MAX_PROMPT_WORDS) < n_words[:, None]  # (n, 6): the first k words
    prompts = torch.full((n, PROMPT_LEN), PAD, dtype=torch.long)
    prompts[:, :MAX_PROMPT_WORDS] = torch.where(keep, words, PAD)
    prompts[:, -1] = SEP
    return prompts


def prompt_words(prompt):
    """The words of one prompt row (PROMPT_LEN,) as a list of ints: PAD and SEP left out."""
    return [t for t in prompt.tolist() if t not in (PAD, SEP)]


def response_tokens(row):
    """One sampled response row (L,) as a list of ints: the tokens up to and including the first EOS."""
    out = []
    for t in row.tolist():
        if t == PAD:
            break
        out.append(t)
        if t == EOS:
            break
    return out


def demonstrations(prompts, generator):
    """The helpful-only assistant's answers: (n, MAX_NEW_TOKENS) long, right-padded with PAD.

    Each copies its prompt's words and ends with EOS. With probability P_REDACT
    its forbidden words become REDACT; with probability P_RAMBLE it repeats its
    last word 2 or 3 more times before the EOS.
    """
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


# --- the model: a tiny pre-norm GPT that returns logits ---


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
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, h, T, C/h)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, h, T, C/h)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))  # (B, T, C)


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
    """Policy(config)(ids) -> logits (B, T, V); logits[:, t] is the distribution of ids[:, t + 1]."""

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
        """ids: (B, T) long, T <= block_size. Returns logits (B, T, V)."""
        T = ids.size(1)
        assert T <= self.config.block_size, f"sequence of {T} tokens, block_size is {self.config.block_size}"
        x = self.wte(ids) + self.wpe(torch.arange(T, device=ids.device))  # (B, T, C)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))  # (B, T, V)


# --- sampling and pretraining ---


@torch.no_grad()
def sample(policy, prompts, generator, temperature=1.0, max_new_tokens=MAX_NEW_TOKENS):
    """Responses to prompts: (B, max_new_tokens) long, right-padded with PAD after the first EOS.

    Draws each token from softmax(logits / temperature) with PAD and SEP left
    out (temperature 0: the argmax), on the policy's device, with `generator`
    (a torch.Generator on the CPU: the draws are the same on every device).
    """
    policy.eval()
    device = next(policy.parameters()).device
    ids = prompts.to(device)  # (B, P)
    done = torch.zeros(len(ids), dtype=torch.bool, device=device)
    out = []
    for _ in range(max_new_tokens):
        logits = policy(ids)[:, -1].float().cpu()  # (B, V)
        logits[:, [PAD, SEP]] = -float("inf")
        if temperature == 0:
            token = logits.argmax(-1)
        else:
            token = torch.multinomial(F.softmax(logits / temperature, dim=-1), 1, generator=generator).squeeze(1)
        token = torch.where(done.cpu(), PAD, token).to(device)  # (B,)
        out.append(token)
        done = done | (token == EOS)
        ids = torch.cat([ids, token[:, None]], dim=1)
        if bool(done.all()):
            break
    out += [torch.full_like(out[0], PAD)] * (max_new_tokens - len(out))
    return torch.stack(out, dim=1)  # (B, max_new_tokens)


def pretrain_policy(config, n=4000, steps=100, seed=0, device="cpu", batch_size=64, lr=1e-2):
    """The helpful-only starting policy: next-token training on demonstrations, the loss on the responses.

    Builds Policy(config) after torch.manual_seed(seed) and trains it with Adam
    on n prompts (sample_prompts) and their demonstrations, both drawn from a
    generator seeded with `seed`. Returns the policy on `device`, in eval mode.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    policy = Policy(config).to(device)
    prompts = sample_prompts(n, generator)
    ids = torch.cat([prompts, demonstrations(prompts, generator)], dim=1)  # (n, P + R)
    targets = ids[:, 1:].clone()
    targets[:, : PROMPT_LEN - 1] = -100  # no loss on the prompt
    targets[targets == PAD] = -100  # nor after the EOS
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
