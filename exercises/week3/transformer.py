"""The Transformer (Vaswani et al., 2017, section 3): encoder, decoder, model.

Built from the Week 1 parts: `MultiHeadAttention` and
`sinusoidal_positional_encoding`.

Each sublayer (attention or feed-forward) is wrapped in a residual
connection and a layer norm. The paper normalises after the residual add
("post-norm"); most later models normalise the sublayer's input instead
("pre-norm"), which trains more stably in deep stacks:

    post-norm (norm_first=False):  x = LayerNorm(x + Dropout(Sublayer(x)))
    pre-norm  (norm_first=True):   x = x + Dropout(Sublayer(LayerNorm(x)))

The layers compute exactly what torch.nn.TransformerEncoderLayer and
torch.nn.TransformerDecoderLayer compute (activation="relu",
batch_first=True) when they hold the same weights and dropout is off.

Masks are boolean, True where attending is allowed, broadcastable to
(B, H, Lq, Lk), as in Week 1.
"""

import math

import torch
from attention import causal_mask
from multi_head_attention import MultiHeadAttention
from positional_encoding import sinusoidal_positional_encoding
from torch import nn


class FeedForward(nn.Module):
    """Position-wise feed-forward network (section 3.3).

        FFN(x) = linear2(Dropout(max(0, linear1(x))))

    Args:
        d_model: model width.
        d_ff: inner width.
        dropout: dropout probability after the ReLU.

    Attributes:
        linear1: nn.Linear(d_model, d_ff); linear2: nn.Linear(d_ff, d_model).
    """

    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        # TODO: your code here
        raise NotImplementedError('TODO: implement FeedForward.__init__ in transformer.py')

    def forward(self, x):
        """(B, L, d_model) -> (B, L, d_model)."""
        # TODO: your code here
        raise NotImplementedError('TODO: implement FeedForward.forward in transformer.py')


class EncoderLayer(nn.Module):
    """One encoder layer: self-attention, then feed-forward (section 3.1).

    Args:
        d_model, n_heads, d_ff: widths and head count.
        dropout: applied to each sublayer's output before the residual add
            (and inside the feed-forward network).
        norm_first: False for the paper's post-norm, True for pre-norm.

    Attributes (the names the grader loads weights into):
        self_attn: MultiHeadAttention(d_model, n_heads).
        ff: FeedForward(d_model, d_ff, dropout).
        norm1, norm2: nn.LayerNorm(d_model) (eps 1e-5), around self_attn and
            ff respectively.
    """

    def __init__(self, d_model, n_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        # TODO: your code here
        raise NotImplementedError('TODO: implement EncoderLayer.__init__ in transformer.py')

    def forward(self, x, mask=None):
        """Args: x (B, S, d_model); mask: key padding mask, e.g. (B, 1, 1, S).

        Returns: (B, S, d_model).
        """
        # TODO: your code here
        raise NotImplementedError('TODO: implement EncoderLayer.forward in transformer.py')


class DecoderLayer(nn.Module):
    """One decoder layer: masked self-attention, cross-attention, feed-forward.

    The cross-attention takes its queries from the decoder and its keys and
    values from the encoder's output `memory` (section 3.2.3).

    Args: as EncoderLayer.

    Attributes:
        self_attn, cross_attn: MultiHeadAttention(d_model, n_heads).
        ff: FeedForward(d_model, d_ff, dropout).
        norm1, norm2, norm3: nn.LayerNorm(d_model), around self_attn,
            cross_attn and ff respectively.
    """

    def __init__(self, d_model, n_heads, d_ff, dropout=0.1, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        # TODO: your code here
        raise NotImplementedError('TODO: implement DecoderLayer.__init__ in transformer.py')

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        """Args:
            x: (B, T, d_model), the decoder's input.
            memory: (B, S, d_model), the encoder's output.
            tgt_mask: self-attention mask, e.g. causal (T, T).
            memory_mask: cross-attention mask, e.g. source padding (B, 1, 1, S).

        Returns: (B, T, d_model).
        """
        # TODO: your code here
        raise NotImplementedError('TODO: implement DecoderLayer.forward in transformer.py')


class Transformer(nn.Module):
    """The encoder-decoder Transformer (Figure 1 of the paper).

    Embeddings are multiplied by sqrt(d_model) and the sinusoidal positional
    encoding is added, on both the source and the target side (section
    3.4-3.5), then dropout. Initialise the embedding tables from
    N(0, 1 / d_model), so that the scaled embeddings have unit variance and
    do not drown the positional encoding (nn.Embedding's default N(0, 1)
    would make them sqrt(d_model) times larger). N encoder layers turn the source into `memory`;
    N decoder layers read the target (causally) and `memory`; a linear layer
    gives the logits over the target vocabulary. With norm_first=True a
    final LayerNorm follows each stack (pre-norm leaves the residual stream
    unnormalised); the post-norm model has none.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.
        d_model, n_heads, d_ff: widths and head count.
        n_layers: N, the number of encoder layers and of decoder layers.
        dropout: dropout probability everywhere.
        max_len: longest sequence the positional table covers.
        norm_first: post-norm (False, the paper) or pre-norm (True).

    Attributes (the names fix the state dict):
        src_embed: nn.Embedding(src_vocab, d_model).
        tgt_embed: nn.Embedding(tgt_vocab, d_model).
        encoder_layers: nn.ModuleList of n_layers EncoderLayer.
        decoder_layers: nn.ModuleList of n_layers DecoderLayer.
        encoder_norm, decoder_norm: nn.LayerNorm(d_model), only when norm_first.
        out_proj: nn.Linear(d_model, tgt_vocab).
        pe: (max_len, d_model) buffer, registered with persistent=False so it
            is not part of the state dict.
    """

    def __init__(self, src_vocab, tgt_vocab, d_model=32, n_heads=4, n_layers=2, d_ff=64, dropout=0.1, max_len=64, norm_first=False):
        super().__init__()
        self.d_model = d_model
        self.norm_first = norm_first
        # TODO: your code here
        raise NotImplementedError('TODO: implement Transformer.__init__ in transformer.py')

    def embed(self, tokens, embedding):
        """Scaled token embedding plus positional encoding: (B, L) -> (B, L, d_model)."""
        # TODO: your code here
        raise NotImplementedError('TODO: implement Transformer.embed in transformer.py')

    def encode(self, src, src_mask=None):
        """Encode the source.

        Args:
            src: (B, S) token ids.
            src_mask: None, or the source padding mask (B, 1, 1, S), True at
                real tokens (data.padding_mask).

        Returns:
            memory: (B, S, d_model).
        """
        # TODO: your code here
        raise NotImplementedError('TODO: implement Transformer.encode in transformer.py')

    def decode(self, tgt, memory, src_mask=None):
        """Decode: logits for the next token at every target position.

        Builds the causal mask (position t sees target positions <= t) itself;
        src_mask hides padded source positions from the cross-attention.

        Args:
            tgt: (B, T) token ids, starting with BOS.
            memory: (B, S, d_model), from encode.
            src_mask: None or (B, 1, 1, S).

        Returns:
            logits: (B, T, tgt_vocab); logits[:, t] predicts token t + 1.
        """
        # TODO: your code here
        raise NotImplementedError('TODO: implement Transformer.decode in transformer.py')

    def forward(self, src, tgt, src_mask=None):
        """Teacher-forced logits: decode(tgt, encode(src, src_mask), src_mask), (B, T, tgt_vocab)."""
        # TODO: your code here
        raise NotImplementedError('TODO: implement Transformer.forward in transformer.py')
