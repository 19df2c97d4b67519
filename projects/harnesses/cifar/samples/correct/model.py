"""A torchvision ResNet-18 trained from scratch (about 15 s of training on one CPU core)."""

import torch.nn as nn
import torchvision

EPOCHS = 4


def build_model(num_classes: int) -> nn.Module:
    return torchvision.models.resnet18(weights=None, num_classes=num_classes)
