"""A table-driven stand-in for a sequence-to-sequence model, for the Week 3 decoding checks.

`TableModel` has the interface the decoding exercises rely on,

    encode(src, src_mask) -> memory          (B, S, 1): the source ids, as floats
    decode(tgt, memory, src_mask) -> logits  (B, T, V): normalised log-probabilities,

and no learned parameters: the distribution of the token that follows a
prefix (the tokens after BOS) is read from `table` when the prefix is
there ("" for the empty prefix, "3,4" after tokens 3 then 4), and otherwise
drawn from a generator seeded by (seed, the source's first token, the
prefix). The same model is rebuilt in the grader's process, so every
sequence's probability is known exactly and the best one can be found by
enumeration. PAD and BOS get log-probability LOW everywhere: never worth
choosing, yet finite.

It is built in the submission's process by `student.obj(...)` and passed
to the submission's greedy_decode / beam_search.
"""

from __future__ import annotations

import torch
from torch import nn

LOW = -1.0e4  # log-probability of PAD and BOS


class TableModel(nn.Module):
    def __init__(self, vocab_size=6, seed=0, table=None, scale=2.0, eos_bias=0.0, pad_id=0, bos_id=1, eos_id=2):
        super().__init__()
        self.vocab_size = vocab_size
        self.seed = int(seed)
        self.table = {str(k): [float(p) for p in v] for k, v in (table or {}).items()}
        self.scale = float(scale)
        self.eos_bias = float(eos_bias)
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        # No learned weights; a parameter all the same, so `next(model.parameters()).device` works.
        self.anchor = nn.Parameter(torch.zeros(1, dtype=torch.float64), requires_grad=False)
        self._cache: dict[tuple, torch.Tensor] = {}

    def log_probs(self, source: int, prefix: tuple) -> torch.Tensor:
        """log p(next token | prefix) for the source whose first token is `source`: (V,) float64."""
        key = (source, prefix)
        if key not in self._cache:
            V = self.vocab_size
            name = ",".join(str(t) for t in prefix)
            if name in self.table:
                probs = torch.tensor(self.table[name], dtype=torch.float64)
                logits = probs.clamp_min(1e-300).log()
            else:
                h = self.seed * 1_000_003 + source * 7919
                for t in prefix:
                    h = (h * 131 + t + 1) % (2**61 - 1)
                generator = torch.Generator().manual_seed(h)
                logits = torch.randn(V, generator=generator, dtype=torch.float64) * self.scale
                logits[self.eos_id] += self.eos_bias
            logits[self.pad_id] = logits[self.bos_id] = float("-inf")
            logp = torch.log_softmax(logits, dim=0)
            logp[self.pad_id] = logp[self.bos_id] = LOW
            self._cache[key] = logp
        return self._cache[key]

    def encode(self, src, src_mask=None):
        return src.to(torch.float64).unsqueeze(-1)  # (B, S, 1)

    def decode(self, tgt, memory, src_mask=None):
        B, T = tgt.shape
        rows = tgt.tolist()
        sources = memory[:, 0, 0].round().long().tolist()
        out = torch.empty(B, T, self.vocab_size, dtype=torch.float64)
        for b in range(B):
            source = sources[min(b, len(sources) - 1)]  # a memory of batch 1 serves every row
            for t in range(T):
                out[b, t] = self.log_probs(source, tuple(rows[b][1 : t + 1]))
        return out.to(tgt.device)

    def forward(self, src, tgt, src_mask=None):
        return self.decode(tgt, self.encode(src, src_mask), src_mask)


def generator(seed):
    """A seeded torch.Generator, for passing to a submission's function as `student.obj(...)`."""
    return torch.Generator().manual_seed(int(seed))
