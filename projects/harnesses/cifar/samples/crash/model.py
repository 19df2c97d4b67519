"""Forgets to flatten: the linear layer gets a 4-D tensor and the shapes do not match."""

import torch.nn as nn


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Linear(8, num_classes))
