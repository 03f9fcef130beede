"""An encoder-decoder with additive attention, written differently."""

import torch
from cells import GRUCell
from torch import nn
from torch.nn import functional as F

PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3


def make_reversal_batch(batch_size, min_len, max_len, n_digits=10, generator=None):
    lengths = torch.randint(min_len, max_len + 1, (batch_size, 1), generator=generator)
    digits = torch.randint(0, n_digits, (batch_size, max_len), generator=generator)
    pos = torch.arange(max_len).expand(batch_size, max_len)
    real = pos < lengths
    y = digits.gather(1, (lengths - 1 - pos).clamp(min=0))
    x = torch.where(real, digits + N_SPECIAL, PAD)
    y = torch.where(real, y + N_SPECIAL, PAD)
    src = torch.cat([x, torch.full((batch_size, 1), PAD)], dim=1)
    src.scatter_(1, lengths, EOS)
    tgt = torch.cat([torch.full((batch_size, 1), BOS), y, torch.full((batch_size, 1), PAD)], dim=1)
    tgt.scatter_(1, lengths + 1, EOS)
    return src, tgt


class Encoder(nn.Module):
    def __init__(self, vocab_size, emb_size, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.cell = GRUCell(emb_size, hidden_size)

    def forward(self, src):
        emb = self.embedding(src)
        B, S = src.shape
        h = emb.new_zeros(B, self.cell.hidden_size)
        states = []
        for j in range(S):
            real = (src[:, j] != PAD).unsqueeze(-1)
            h = torch.where(real, self.cell(emb[:, j], h), h)
            states.append(h)
        return torch.stack(states, dim=1), h


class AdditiveAttention(nn.Module):
    def __init__(self, query_size, key_size, attn_size):
        super().__init__()
        self.W = nn.Linear(query_size, attn_size, bias=False)
        self.U = nn.Linear(key_size, attn_size, bias=False)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def forward(self, s, h, mask):
        keys = torch.einsum("bsk,ak->bsa", h, self.U.weight)
        query = torch.einsum("bq,aq->ba", s, self.W.weight)
        scores = torch.einsum("bsa,a->bs", torch.tanh(keys + query.unsqueeze(1)), self.v.weight[0])
        scores = torch.where(mask, scores, torch.full_like(scores, float("-inf")))
        alpha = F.softmax(scores, dim=1)
        return torch.einsum("bs,bsk->bk", alpha, h), alpha


class Decoder(nn.Module):
    def __init__(self, vocab_size, emb_size, hidden_size, attn_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.attention = AdditiveAttention(hidden_size, hidden_size, attn_size)
        self.cell = GRUCell(emb_size + hidden_size, hidden_size)
        self.out = nn.Linear(2 * hidden_size + emb_size, vocab_size)

    def forward(self, y_prev, s_prev, annotations, mask):
        emb = self.embedding(y_prev)
        c, alpha = self.attention(s_prev, annotations, mask)
        s = self.cell(torch.cat((emb, c), 1), s_prev)
        return self.out(torch.cat((s, c, emb), 1)), s, alpha


class Seq2Seq(nn.Module):
    def __init__(self, vocab_size, emb_size=32, hidden_size=64, attn_size=64):
        super().__init__()
        self.encoder = Encoder(vocab_size, emb_size, hidden_size)
        self.bridge = nn.Linear(hidden_size, hidden_size)
        self.decoder = Decoder(vocab_size, emb_size, hidden_size, attn_size)

    def encode(self, src):
        annotations, final = self.encoder(src)
        mask = src.ne(PAD)
        return annotations, mask, self.bridge(final).tanh()

    def forward(self, src, tgt_in):
        annotations, mask, s = self.encode(src)
        B, T = tgt_in.shape
        V = self.decoder.out.out_features
        logits = annotations.new_zeros(B, T, V)
        alphas = annotations.new_zeros(B, T, src.shape[1])
        for i in range(T):
            logits[:, i], s, alphas[:, i] = self.decoder(tgt_in[:, i], s, annotations, mask)
        return logits, alphas


def seq2seq_loss(logits, targets):
    V = logits.shape[-1]
    losses = F.cross_entropy(logits.view(-1, V), targets.view(-1), reduction="none")
    real = (targets.view(-1) != PAD).to(losses.dtype)
    return (losses * real).sum() / real.sum()


def greedy_decode(model, src, max_len):
    model.eval()
    with torch.no_grad():
        annotations, mask, s = model.encode(src)
        B = src.shape[0]
        tokens = torch.full((B, max_len), PAD, dtype=torch.long, device=src.device)
        prev = torch.full((B,), BOS, dtype=torch.long, device=src.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        for t in range(max_len):
            logits, s, _ = model.decoder(prev, s, annotations, mask)
            prev = logits.argmax(-1)
            tokens[:, t] = torch.where(finished, torch.full_like(prev, PAD), prev)
            finished = finished | (prev == EOS)
            if finished.all():
                break
    return tokens


def exact_match(model, src, tgt):
    pred = greedy_decode(model, src, tgt.shape[1] - 1)
    return (pred == tgt[:, 1:]).all(dim=1).float().mean().item()


def train_seq2seq(model, steps=400, batch_size=64, lr=3e-3, min_len=1, max_len=8, n_digits=10, clip=1.0, seed=0,
                  device="cpu", log=None):  # fmt: skip
    model = model.to(device)
    model.train()
    g = torch.Generator()
    g.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        src, tgt = (t.to(device) for t in make_reversal_batch(batch_size, min_len, max_len, n_digits, g))
        logits, _ = model(src, tgt[:, :-1])
        loss = seq2seq_loss(logits, tgt[:, 1:])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if log is not None:
            log.append({"step": step + 1, "loss": loss.item()})
    return model.eval()
