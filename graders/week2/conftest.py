"""Week 2 grading setup: the built-ins this week's exercises ask students to write."""

import pytest
import torch

# The fused normalization functions. Reductions such as torch.mean and torch.var stay allowed.
FORBIDDEN = ["layer_norm", "batch_norm", "group_norm", "instance_norm", "native_layer_norm", "native_batch_norm"]
MODULES = {
    "torch.nn.modules.normalization.LayerNorm": "LayerNorm",
    "torch.nn.modules.normalization.GroupNorm": "GroupNorm",
    "torch.nn.modules.batchnorm.BatchNorm1d": "BatchNorm1d",
    "torch.nn.modules.batchnorm.BatchNorm2d": "BatchNorm2d",
    "torch.nn.modules.batchnorm.BatchNorm3d": "BatchNorm3d",
    "torch.nn.modules.instancenorm.InstanceNorm1d": "InstanceNorm1d",
}


@pytest.fixture(scope="session")
def forbid():
    return {
        "functions": FORBIDDEN,  # torch functions, seen through a TorchFunctionMode
        "kernels": ["layer_norm", "batch_norm", "group_norm", "instance_norm"],  # aten ops, through a TorchDispatchMode
        "modules": list(MODULES),  # module types constructed
        # Names read from the source itself, when reached through torch (nn.LayerNorm, F.layer_norm,
        # from torch.nn import BatchNorm1d); the student's own LayerNorm and BatchNorm1d are fine.
        "names": [*FORBIDDEN, *MODULES.values()],
    }


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20160721)
