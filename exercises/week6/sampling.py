"""Sampling text from a GPT: temperature, top-k, nucleus (top-p), and generation with a KV cache.

At each step the model gives logits z over the vocabulary for the next
token. The distribution sampled from is built in this order:

1. temperature T: z / T (T < 1 sharpens, T > 1 flattens; T = 0 means greedy: argmax z);
2. top-k: keep the k largest logits, set the others to -inf;
3. top-p, the *nucleus* (Holtzman et al., 2020, section 3.1): sort the
   probabilities softmax(z) in decreasing order and keep the smallest prefix
   whose total mass is >= p, *including* the token that crosses p; set the
   other logits to -inf;
4. softmax, and one draw.

A token of probability 0 after filtering is never drawn. Everything random
comes from the `generator` argument (a torch.Generator), never from torch's
global random state, so the same seed gives the same text.

Generation. Without a cache, every step runs the model on the whole context
(cropped to the last block_size tokens). With the KV cache
(gpt.KVCache), the first step runs the prompt once and each later step runs
only the newest token, the earlier keys and values coming from the cache:
the same logits, far less work. GPT-2's learned positions stop at
block_size - 1, so once the sequence is longer than block_size the cache
cannot go on (every position would shift); from then on generate crops and
recomputes without a cache, exactly as use_cache=False does, and both give
the same tokens.
"""

import torch
from gpt import KVCache
from torch.nn import functional as F


def top_k_filter(logits, k):
    """Keep the k largest logits of each row, -inf elsewhere.

    Args:
        logits: (..., V) float; not modified.
        k: int >= 1; k >= V keeps every logit.

    Returns:
        (..., V): logits where logits >= the k-th largest of their row (ties at
        the k-th value are all kept; with distinct logits exactly k remain), -inf elsewhere.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement top_k_filter in sampling.py')


def top_p_filter(logits, p):
    """Keep the nucleus of each row: the smallest set of most likely tokens whose probability mass is >= p.

    Args:
        logits: (..., V) float; not modified.
        p: 0 < p <= 1. p = 1 keeps every token of nonzero probability.

    Returns:
        (..., V): the logits of the kept tokens unchanged, -inf elsewhere.
        With the probabilities softmax(logits) sorted in decreasing order,
        token j of that order is kept when the mass of the tokens before it
        is < p: the token that crosses p is kept, and the most likely token always is.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement top_p_filter in sampling.py')


def sampling_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """The distribution the next token is drawn from.

    Args:
        logits: (..., V) float, not modified.
        temperature: > 0 divides the logits; 0 gives the one-hot of the argmax (greedy).
        top_k: None, or keep the top_k largest (after the temperature).
        top_p: None, or keep the nucleus of mass top_p (of the tempered, top-k filtered distribution).

    Returns:
        (..., V) probabilities: softmax(top_p_filter(top_k_filter(logits / temperature, top_k), top_p)).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement sampling_probs in sampling.py')


@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None, use_cache=True):
    """Extend each row of idx by max_new_tokens tokens, one at a time.

    Args:
        model: a GPT (anything with .config.block_size and
            forward(idx, kv_cache=None) -> (logits (B, T, V), loss)), already in
            the mode wanted (call model.eval() first: generate does not change it).
        idx: (B, T) long prompt, on the model's device; not modified.
        max_new_tokens: how many tokens to add.
        temperature, top_k, top_p: as in sampling_probs; temperature 0 is greedy
            (argmax of the last logits; top_k and top_p do not matter then).
        generator: the torch.Generator every draw uses (on the model's device), or None.
        use_cache: run with a gpt.KVCache (see the module docstring); the tokens
            are the same either way.

    Returns:
        (B, T + max_new_tokens) long: the prompt, then the new tokens. Each step
        draws the whole batch's next tokens with ONE call
        torch.multinomial(probs, num_samples=1, generator=generator) on the
        (B, V) probabilities of the last position, so that a given seed gives
        the same tokens in every correct implementation.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement generate in sampling.py')
