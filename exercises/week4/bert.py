"""BERT (Devlin et al., 2018, section 3 and appendix A): a bidirectional Transformer encoder.

    input:  [CLS] tok_1 ... tok_n [SEP] tok'_1 ... tok'_m [SEP] [PAD] ...
    x_0 = LayerNorm(E_token[ids] + E_position[0..T-1] + E_segment[segment ids])   then dropout
    x_l = BertLayer(x_{l-1}),  l = 1..L                                          (B, T, d)

Each BertLayer is the *post-norm* encoder block of Vaswani et al. (2017),
with BERT's GELU activation:

    a = x + Dropout(MultiHeadAttention(x, x, x, mask))
    x = LayerNorm_1(a)                          -- normalise AFTER the residual sum
    h = W_2 GELU(W_1 x + b_1) + b_2             -- d -> intermediate_size -> d
    x = LayerNorm_2(x + Dropout(h))

Every position attends to every *real* position, left and right: the
attention mask only hides padding. Masks follow the course convention:
True = a real token that may be attended to.

Heads on top of the encoder:
- BertMLMHead: logits over the vocabulary at every position,
      LayerNorm(GELU(dense(h))) @ E_token^T + bias,
  its output matrix IS the token embedding matrix (weight tying, the same
  nn.Parameter), with a bias of its own.
- BertForSequenceClassification: the "pooler" of BERT, tanh(W_p h_[CLS] + b_p)
  on the first position only, then dropout and a linear classifier.

Dropout is applied to the embeddings, and to the attention and feed-forward
outputs before each residual sum (not to the attention weights: the Week 1
MultiHeadAttention has no dropout).
"""

from dataclasses import dataclass

import torch
from multi_head_attention import MultiHeadAttention
from torch import nn
from torch.nn import functional as F


@dataclass
class BertConfig:
    """The sizes of a BERT model, and the ids of its special tokens.

    BERT-base is vocab_size=30522, hidden_size=768, num_layers=12,
    num_heads=12, intermediate_size=3072, max_position=512; the defaults
    here are a tiny model for a CPU.
    """

    vocab_size: int = 32
    hidden_size: int = 64  # d
    num_layers: int = 2  # L
    num_heads: int = 4  # h; hidden_size must be divisible by it
    intermediate_size: int = 128  # width of the feed-forward layer (4d in the paper)
    max_position: int = 64  # longest sequence T
    type_vocab_size: int = 2  # segments A and B
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    num_labels: int = 2  # classes of BertForSequenceClassification
    pad_id: int = 0
    cls_id: int = 1
    sep_id: int = 2
    mask_id: int = 3

    @property
    def special_ids(self):
        """The ids that are never masked nor drawn as random tokens: (pad, cls, sep, mask)."""
        return (self.pad_id, self.cls_id, self.sep_id, self.mask_id)


def init_bert_weights(module):
    """BERT's initialisation (appendix of the reference code): N(0, 0.02) weights, zero biases,
    LayerNorm at identity. Use it with `model.apply(init_bert_weights)`."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BertEmbeddings(nn.Module):
    """Token + position + segment embeddings, then LayerNorm and dropout.

    Attributes:
        word_embeddings: nn.Embedding(vocab_size, hidden_size).
        position_embeddings: nn.Embedding(max_position, hidden_size), learned.
        token_type_embeddings: nn.Embedding(type_vocab_size, hidden_size).
        layer_norm: nn.LayerNorm(hidden_size, eps=layer_norm_eps).
        dropout: nn.Dropout(dropout).
    """

    def __init__(self, config):
        super().__init__()
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertEmbeddings.__init__ in bert.py')

    def forward(self, input_ids, token_type_ids=None):
        """input_ids: (B, T) token ids; token_type_ids: (B, T) segment ids, None = all 0.

        Returns (B, T, hidden_size). Position t (0-based) gets position embedding t.
        """
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertEmbeddings.forward in bert.py')


class BertLayer(nn.Module):
    """One post-norm encoder block with a GELU feed-forward layer (see the module docstring).

    Attributes:
        attention: MultiHeadAttention(hidden_size, num_heads) from Week 1.
        attention_norm: nn.LayerNorm(hidden_size, eps=layer_norm_eps), after the attention's residual sum.
        intermediate: nn.Linear(hidden_size, intermediate_size).
        output: nn.Linear(intermediate_size, hidden_size).
        output_norm: nn.LayerNorm(hidden_size, eps=layer_norm_eps), after the feed-forward's residual sum.
        dropout: nn.Dropout(dropout).
    GELU is the exact one, torch.nn.functional.gelu (erf form, approximate="none").
    """

    def __init__(self, config):
        super().__init__()
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertLayer.__init__ in bert.py')

    def forward(self, x, attention_mask=None):
        """x: (B, T, d); attention_mask: (B, T) bool, True = real token, None = all real.

        Returns (B, T, d). No position may attend to a padding position.
        """
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertLayer.forward in bert.py')


class BertModel(nn.Module):
    """The BERT encoder: embeddings, then num_layers BertLayers.

    Attributes:
        config: the BertConfig.
        embeddings: BertEmbeddings(config).
        layers: nn.ModuleList of num_layers BertLayer(config).
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertModel.__init__ in bert.py')

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        """input_ids, token_type_ids: (B, T); attention_mask: (B, T) bool, True = real token.

        attention_mask None means `input_ids != config.pad_id`.
        Returns the last layer's hidden states (B, T, hidden_size).
        """
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertModel.forward in bert.py')


class BertMLMHead(nn.Module):
    """Masked-LM head: logits = LayerNorm(GELU(dense(h))) @ E^T + bias, E the token embeddings.

    Args:
        config: the BertConfig.
        word_embeddings: the nn.Embedding whose weight the decoder shares.

    Attributes:
        dense: nn.Linear(hidden_size, hidden_size).
        layer_norm: nn.LayerNorm(hidden_size, eps=layer_norm_eps).
        decoder: nn.Linear(hidden_size, vocab_size, bias=False) whose `weight` IS
            word_embeddings.weight (the same nn.Parameter object, not a copy).
        bias: nn.Parameter of shape (vocab_size,), zeros at start.
    """

    def __init__(self, config, word_embeddings):
        super().__init__()
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertMLMHead.__init__ in bert.py')

    def forward(self, hidden_states):
        """hidden_states: (B, T, d) -> logits (B, T, vocab_size)."""
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertMLMHead.forward in bert.py')


class BertForMaskedLM(nn.Module):
    """BERT with the masked-LM head (the paper's pre-training, without next-sentence prediction).

    Attributes:
        config, bert: BertModel(config), mlm: BertMLMHead(config, bert.embeddings.word_embeddings).
    Initialised with init_bert_weights.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertForMaskedLM.__init__ in bert.py')

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        """Same arguments as BertModel; returns logits (B, T, vocab_size)."""
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertForMaskedLM.forward in bert.py')


class BertForSequenceClassification(nn.Module):
    """BERT with a classifier on the [CLS] position (the first one).

        pooled = tanh(pooler(h[:, 0]))                 # (B, d)
        logits = classifier(dropout(pooled))           # (B, num_labels)

    Attributes:
        config, bert: BertModel(config), pooler: nn.Linear(hidden_size, hidden_size),
        dropout: nn.Dropout(dropout), classifier: nn.Linear(hidden_size, num_labels).
    Initialised with init_bert_weights.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertForSequenceClassification.__init__ in bert.py')

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        """Same arguments as BertModel; returns logits (B, num_labels)."""
        # TODO: your code here
        raise NotImplementedError('TODO: implement BertForSequenceClassification.forward in bert.py')
