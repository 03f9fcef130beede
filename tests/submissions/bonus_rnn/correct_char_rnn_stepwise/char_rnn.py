"""A character-level RNN language model, written step by step."""

from pathlib import Path

import torch
from cells import GRUCell, LSTMCell, RNNCell
from torch import nn

CELLS = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}


def load_text(path=None):
    here = Path(globals().get("__file__", "tinyshakespeare.txt")).resolve().parent
    return Path(path or here / "tinyshakespeare.txt").read_text(encoding="utf-8")


class CharVocab:
    def __init__(self, text):
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.vocab_size = len(self.chars)

    def encode(self, text):
        return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)


def split_text(text, train_fraction=0.9):
    n = int(len(text) * train_fraction)
    return text[:n], text[n:]


class CharRNN(nn.Module):
    def __init__(self, vocab_size, n_embd=32, hidden_size=128, cell="lstm"):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, n_embd)
        self.cell = CELLS[cell](n_embd, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)
        if cell == "lstm":
            with torch.no_grad():
                self.cell.bias_ih[hidden_size : 2 * hidden_size].fill_(1.0)
                self.cell.bias_hh[hidden_size : 2 * hidden_size].fill_(0.0)

    def forward(self, idx, state=None):
        e = self.embedding(idx)
        hs = []
        for t in range(idx.shape[1]):
            state = self.cell(e[:, t], state)
            hs.append(state[0] if isinstance(state, tuple) else state)
        return self.head(torch.stack(hs, 1)), state


def lm_loss(logits, targets):
    logp = torch.log_softmax(logits, dim=-1)
    return -logp.gather(-1, targets.unsqueeze(-1)).mean()


def batchify(data, batch_size):
    n = len(data) - len(data) % batch_size
    return data[:n].reshape(batch_size, -1)


def detach_state(state):
    if isinstance(state, (tuple, list)):
        return tuple(detach_state(s) for s in state)
    return None if state is None else state.detach()


def evaluate_lm(model, streams, seq_len):
    mode = model.training
    model.train(False)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        start = 0
        while start + seq_len + 1 <= streams.shape[1]:
            logits, state = model(streams[:, start : start + seq_len], state)
            y = streams[:, start + 1 : start + seq_len + 1]
            total += lm_loss(logits, y).item() * y.numel()
            count += y.numel()
            start += seq_len
    model.train(mode)
    return total / count


def train_char_rnn(model, data, steps=300, batch_size=32, seq_len=32, lr=3e-3, clip=1.0, device="cpu", log=None):
    model = model.to(device)
    streams = batchify(data.to(device), batch_size)
    starts = list(range(0, streams.shape[1] - seq_len, seq_len))
    starts = [s for s in starts if s + seq_len + 1 <= streams.shape[1]]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    state = None
    for step in range(steps):
        start = starts[step % len(starts)]
        if start == 0:
            state = None
        logits, state = model(streams[:, start : start + seq_len], state)
        loss = lm_loss(logits, streams[:, start + 1 : start + seq_len + 1])
        model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        optimizer.step()
        state = detach_state(state)
        if log is not None:
            log.append({"step": step + 1, "loss": float(loss)})
    model.eval()
    return model


def sample(model, prompt, n_new, temperature=1.0, generator=None):
    model.eval()
    ids = prompt
    with torch.no_grad():
        logits, state = model(prompt)
        for _ in range(n_new):
            scores = logits[:, -1, :]
            if temperature == 0:
                nxt = torch.argmax(scores, dim=1).unsqueeze(1)
            else:
                probs = (scores / temperature).softmax(dim=1)
                nxt = torch.multinomial(probs.cpu(), num_samples=1, generator=generator).to(prompt.device)
            ids = torch.cat((ids, nxt), dim=1)
            logits, state = model(nxt, state)
    return ids


def generate_text(model, vocab, prompt="ROMEO:\n", n_new=300, temperature=0.8, seed=0):
    device = next(model.parameters()).device
    ids = sample(model, vocab.encode(prompt)[None].to(device), n_new, temperature, torch.Generator().manual_seed(seed))
    return vocab.decode(ids[0])
