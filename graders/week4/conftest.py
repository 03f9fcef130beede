"""Week 4 grading setup: the built-ins this week's exercises ask students to write.

Students build BERT's encoder themselves, on the provided Week 1
MultiHeadAttention: torch's Transformer layers and fused attention earn no
points. nn.Embedding, nn.LayerNorm, nn.Linear, F.gelu and F.cross_entropy are allowed.
"""

import pytest
import torch

FORBIDDEN = ["scaled_dot_product_attention", "multi_head_attention_forward", "_native_multi_head_attention"]
MODULES = ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder", "Transformer"]


@pytest.fixture(scope="session")
def forbid():
    return {
        "functions": FORBIDDEN,  # torch functions, seen through a TorchFunctionMode
        "kernels": ["scaled_dot_product", "_native_multi_head_attention", "_transformer_encoder_layer_fwd"],
        "modules": [
            "torch.nn.modules.activation.MultiheadAttention",
            *(f"torch.nn.modules.transformer.{m}" for m in MODULES),
        ],  # module types constructed
        "names": [*FORBIDDEN, "MultiheadAttention", *MODULES],  # names read from the source itself
    }


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20181011)
