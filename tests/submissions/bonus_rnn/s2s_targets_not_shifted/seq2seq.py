"""An encoder-decoder with additive attention (Bahdanau, Cho and Bengio, 2014), on a toy task: reversal.

The encoder reads the source x_1 .. x_S and leaves one annotation per
position; the decoder writes the target one token at a time and, before
each token, looks back at every annotation:

    h_j = GRU(E_src[x_j], h_{j-1})                 annotations          (B, S, H)
    s_0 = tanh(W_bridge h_S + b_bridge)           the decoder's first state
    e_ij = v^T tanh(W s_{i-1} + U h_j)            alignment scores     (B, S), padding -> -inf
    alpha_ij = softmax_j(e_ij)                    attention weights    sum over j = 1
    c_i = sum_j alpha_ij h_j                      the context          (B, H)
    s_i = GRU([E_tgt[y_{i-1}]; c_i], s_{i-1})     the decoder's state
    p(y_i | ...) = softmax(W_out [s_i; c_i; E_tgt[y_{i-1}]] + b_out)

(section 3.1 and appendix A of the paper; its encoder is bidirectional and
its output layer a maxout, both simpler here: one direction, one Linear).

Padding. A batch holds sources of different lengths, padded with PAD at the
end. The encoder carries its state unchanged through the padding (unroll's
mask), so h_S, the final state, is the state after each row's last real
token; the attention gives the padded positions a score of -inf, so their
weight is exactly 0 and they never reach the context.

Teacher forcing. At training time the decoder is fed the TRUE previous
token y_{i-1} (tgt_in = BOS y_1 .. y_n EOS ..., the target shifted right),
never its own prediction; at test time greedy decoding feeds back its own
argmax.

The task: reverse a sequence of digits. Tokens: PAD = 0, BOS = 1, EOS = 2,
digit d is token d + 3. A batch is

    src: (B, max_len + 1)   x_1 ... x_n EOS PAD ... PAD
    tgt: (B, max_len + 2)   BOS x_n ... x_1 EOS PAD ... PAD

and the model reads src and tgt[:, :-1] and is trained to predict tgt[:, 1:].
"""

import torch
from cells import GRUCell, unroll
from torch import nn
from torch.nn import functional as F

PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3

# --- the task (finished) ---


def make_reversal_batch(batch_size, min_len, max_len, n_digits=10, generator=None):
    """A random batch of the reversal task: (src, tgt) as the module docstring lays them out, on the CPU.

    Each example's length n is uniform in [min_len, max_len] and its digits
    uniform in [0, n_digits); only `generator` draws them.
    """
    lengths = torch.randint(min_len, max_len + 1, (batch_size, 1), generator=generator)  # (B, 1)
    digits = torch.randint(0, n_digits, (batch_size, max_len), generator=generator)  # (B, max_len)
    pos = torch.arange(max_len).expand(batch_size, max_len)  # (B, max_len)
    real = pos < lengths
    y = digits.gather(1, (lengths - 1 - pos).clamp(min=0))  # y_t = x_(n-1-t)
    x = torch.where(real, digits + N_SPECIAL, PAD)
    y = torch.where(real, y + N_SPECIAL, PAD)
    src = torch.cat([x, torch.full((batch_size, 1), PAD)], dim=1)  # (B, max_len + 1)
    src.scatter_(1, lengths, EOS)
    tgt = torch.cat([torch.full((batch_size, 1), BOS), y, torch.full((batch_size, 1), PAD)], dim=1)  # (B, max_len + 2)
    tgt.scatter_(1, lengths + 1, EOS)
    return src, tgt


# --- the model ---


class Encoder(nn.Module):
    """Source tokens -> annotations and the final state.

    Attributes: embedding = nn.Embedding(vocab_size, emb_size); cell = GRUCell(emb_size, hidden_size).
    """

    def __init__(self, vocab_size, emb_size, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.cell = GRUCell(emb_size, hidden_size)

    def forward(self, src):
        """src: (B, S) long, PAD after each row's tokens -> (annotations (B, S, H), final (B, H)).

        unroll the cell over the embedded source from a zero state, with the
        mask src != PAD: final is each row's state after its last real token;
        the annotations at real positions are the states after them.
        """
        return unroll(self.cell, self.embedding(src), mask=src != PAD)


class AdditiveAttention(nn.Module):
    """Bahdanau's alignment model: e_j = v^T tanh(W s + U h_j), masked, softmax over the source.

    Attributes (no biases): W = nn.Linear(query_size, attn_size, bias=False),
    U = nn.Linear(key_size, attn_size, bias=False), v = nn.Linear(attn_size, 1, bias=False).
    """

    def __init__(self, query_size, key_size, attn_size):
        super().__init__()
        self.W = nn.Linear(query_size, attn_size, bias=False)
        self.U = nn.Linear(key_size, attn_size, bias=False)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def forward(self, s, h, mask):
        """s: (B, query_size), the decoder's previous state; h: (B, S, key_size), the annotations;
        mask: (B, S) bool, True at real source positions (at least one per row).

        Returns (context (B, key_size), alpha (B, S)): alpha sums to 1 over
        each row's real positions and is exactly 0 at the masked ones; the
        context is sum_j alpha_j h_j.
        """
        e = self.v(torch.tanh(self.W(s)[:, None, :] + self.U(h))).squeeze(-1)  # (B, S)
        e = e.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(e, dim=-1)  # (B, S)
        context = (alpha[:, :, None] * h).sum(dim=1)  # (B, key_size)
        return context, alpha


class Decoder(nn.Module):
    """One decoding step: attend with the previous state, update the state, predict the next token.

    Attributes:
        embedding: nn.Embedding(vocab_size, emb_size).
        attention: AdditiveAttention(hidden_size, hidden_size, attn_size).
        cell: GRUCell(emb_size + hidden_size, hidden_size), input [E[y_prev]; c].
        out: nn.Linear(2 * hidden_size + emb_size, vocab_size), input [s; c; E[y_prev]].
    """

    def __init__(self, vocab_size, emb_size, hidden_size, attn_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.attention = AdditiveAttention(hidden_size, hidden_size, attn_size)
        self.cell = GRUCell(emb_size + hidden_size, hidden_size)
        self.out = nn.Linear(2 * hidden_size + emb_size, vocab_size)

    def forward(self, y_prev, s_prev, annotations, mask):
        """y_prev: (B,) long, s_prev: (B, H), annotations: (B, S, H), mask: (B, S) bool.

        Returns (logits (B, V), s (B, H), alpha (B, S)):
            c, alpha = attention(s_prev, annotations, mask)
            s = cell(cat[E[y_prev], c], s_prev)
            logits = out(cat[s, c, E[y_prev]])
        """
        e = self.embedding(y_prev)  # (B, E)
        context, alpha = self.attention(s_prev, annotations, mask)  # (B, H), (B, S)
        s = self.cell(torch.cat([e, context], dim=-1), s_prev)  # (B, H)
        logits = self.out(torch.cat([s, context, e], dim=-1))  # (B, V)
        return logits, s, alpha


class Seq2Seq(nn.Module):
    """The encoder, the bridge to the decoder's first state, and the decoder.

    Attributes: encoder = Encoder(vocab_size, emb_size, hidden_size),
    bridge = nn.Linear(hidden_size, hidden_size), decoder = Decoder(vocab_size, emb_size, hidden_size, attn_size).
    """

    def __init__(self, vocab_size, emb_size=32, hidden_size=64, attn_size=64):
        super().__init__()
        self.encoder = Encoder(vocab_size, emb_size, hidden_size)
        self.bridge = nn.Linear(hidden_size, hidden_size)
        self.decoder = Decoder(vocab_size, emb_size, hidden_size, attn_size)

    def encode(self, src):
        """src: (B, S) -> (annotations (B, S, H), mask (B, S) bool = src != PAD, s_0 = tanh(bridge(final)) (B, H))."""
        annotations, final = self.encoder(src)
        return annotations, src != PAD, torch.tanh(self.bridge(final))

    def forward(self, src, tgt_in):
        """Teacher forcing: src (B, S), tgt_in (B, T) -> (logits (B, T, V), alphas (B, T, S)).

        Step i feeds the decoder tgt_in[:, i] (the true previous token) and
        the state step i - 1 left (s_0 from encode for i = 0); logits[:, i]
        predicts tgt_in's next token, alphas[:, i] are the step's attention weights.
        """
        annotations, mask, s = self.encode(src)
        logits, alphas = [], []
        for i in range(tgt_in.shape[1]):
            step_logits, s, alpha = self.decoder(tgt_in[:, i], s, annotations, mask)
            logits.append(step_logits)
            alphas.append(alpha)
        return torch.stack(logits, dim=1), torch.stack(alphas, dim=1)  # (B, T, V), (B, T, S)


def seq2seq_loss(logits, targets):
    """Mean cross-entropy over the non-PAD targets: logits (B, T, V), targets (B, T) long -> scalar."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=PAD)


@torch.no_grad()
def greedy_decode(model, src, max_len):
    """Decode each row of src greedily: (B, max_len) long, the tokens after BOS.

    Start from BOS and s_0; at each step feed the previous token (your own
    argmax, not a true one), take the argmax of the logits as the next token.
    Once a row has produced EOS, its later tokens are PAD. Eval mode.
    """
    model.eval()
    annotations, mask, s = model.encode(src)
    y = torch.full((src.shape[0],), BOS, dtype=torch.long, device=src.device)  # (B,)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    out = []
    for _ in range(max_len):
        logits, s, _ = model.decoder(y, s, annotations, mask)
        y = logits.argmax(dim=-1)  # (B,)
        out.append(y.masked_fill(done, PAD))
        done |= y == EOS
    return torch.stack(out, dim=1)  # (B, max_len)


def exact_match(model, src, tgt):
    """Finished: the fraction of rows whose greedy decoding equals tgt[:, 1:] exactly (EOS and PAD included)."""
    pred = greedy_decode(model, src, tgt.shape[1] - 1)
    return (pred == tgt[:, 1:]).all(dim=1).float().mean().item()


def train_seq2seq(model, steps=400, batch_size=64, lr=3e-3, min_len=1, max_len=8, n_digits=10, clip=1.0, seed=0,
                  device="cpu", log=None):  # fmt: skip
    """Train `model` on the reversal task with teacher forcing; return it, on `device`, in eval mode.

    Each step draws a fresh make_reversal_batch(batch_size, min_len, max_len,
    n_digits, generator) from one torch.Generator seeded with `seed`, moves it
    to `device`, and in train mode: zero the gradients,
    seq2seq_loss(model(src, tgt[:, :-1])[0], tgt[:, 1:]), backward, clip the
    gradient norm to `clip`, Adam step (learning rate `lr`). `log`: None, or a
    list to which each step appends {"step": s, "loss": float} (s = 1 .. steps).
    """
    model.to(device).train()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for s in range(1, steps + 1):
        src, tgt = make_reversal_batch(batch_size, min_len, max_len, n_digits, generator)
        src, tgt = src.to(device), tgt.to(device)
        logits, _ = model(src, tgt[:, :-1])
        loss = seq2seq_loss(logits, tgt[:, :-1])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        if log is not None:
            log.append({"step": s, "loss": loss.item()})
    return model.eval()
