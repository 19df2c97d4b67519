"""Asks for ImageNet weights: the job is offline, so this fails with a message naming what to declare."""

import torch.nn as nn
import torchvision


def build_model(num_classes: int) -> nn.Module:
    model = torchvision.models.resnet18(weights=torchvision.models.ResNet18_Weights.DEFAULT)
    model.fc = nn.Linear(512, num_classes)
    return model
