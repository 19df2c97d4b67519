"""Averages every pixel first: sees colour, never the stripes (about half right)."""

import torch.nn as nn

EPOCHS = 8
LR = 5e-2


def build_model(num_classes: int) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, num_classes))
