"""Masked language modelling: BERT's masking rule (Devlin et al., 2018, section 3.1, "Task #1: Masked LM").

BERT is trained to recover tokens hidden from it. Each *eligible* token (not
a special token such as [CLS], [SEP], [MASK] or [PAD]) is chosen, independently,
with probability p = 0.15. Of the chosen tokens

    80% are replaced by [MASK],
    10% are replaced by a random token,
    10% are left unchanged,

and the model must predict the original token at every chosen position,
whatever it now sees there. The labels hold the original token id at the
chosen positions and -100 everywhere else: -100 is the `ignore_index` of
`torch.nn.functional.cross_entropy`, so unchosen positions add nothing to
the loss.

Why not always [MASK]? [MASK] never occurs at fine-tuning time; keeping or
corrupting some chosen tokens makes the model build a good representation of
every token, since it cannot tell which ones it will be asked about.
"""

import torch


def mask_tokens(input_ids, mask_id, vocab_size, special_ids, generator=None, mlm_probability=0.15):
    """Apply BERT's 15% / 80-10-10 masking rule to a batch of token ids.

    Args:
        input_ids: (B, T) integer tensor of token ids in [0, vocab_size);
            not modified.
        mask_id: id of the [MASK] token.
        vocab_size: number of token ids V.
        special_ids: ids never chosen and never drawn as random tokens
            (padding, [CLS], [SEP], [MASK], ...): a list, tuple or 1-D tensor.
        generator: a torch.Generator. Every random number must come from it
            (`torch.rand(..., generator=generator)`), so that the same
            generator state gives the same result. None: torch's global RNG.
            Draw on the generator's device (CPU for `torch.Generator()`) and
            move the result to input_ids.device.
        mlm_probability: probability p of choosing each eligible token.

    Returns:
        masked_ids: (B, T), same dtype and device as input_ids: a copy of
            input_ids where 80% of the chosen tokens (in expectation) are
            mask_id, 10% a random token, and the rest unchanged.
        labels: (B, T) int64 (torch.long): input_ids at the chosen positions,
            -100 at every other position.

    Random tokens are drawn uniformly from the ids in [0, vocab_size) that
    are NOT in special_ids (so a random replacement is never [MASK], [PAD],
    [CLS] or [SEP]); a drawn token may happen to equal the original one.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement mask_tokens in masking.py')
