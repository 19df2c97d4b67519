"""Test data for the environment/dataset tests: a tiny 'shapes' dataset in PPM (no Pillow needed to write it)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "envjob"
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]  # label = index of the dominant channel


def make_shapes(dest: Path, *, count: int = 6) -> dict[str, int]:
    """Write ``count`` 8x8 images under ``dest/images``; return name -> label."""
    (dest / "images").mkdir(parents=True)
    labels = {}
    for i in range(count):
        label = i % 3
        name = f"img{i}.ppm"
        pixel = bytes(COLOURS[label])
        (dest / "images" / name).write_bytes(b"P6\n8 8\n255\n" + pixel * 64)
        labels[name] = label
    (dest / "README.txt").write_text("8x8 images; the dominant colour channel is the label.\n")
    return labels


def labels() -> dict[str, int]:
    return json.loads((FIXTURE / "hidden" / "labels.json").read_text())


CORRECT = "def classify(image):\n    r, g, b = image.getpixel((0, 0))\n    return [r, g, b].index(max(r, g, b))\n"
WRONG_HALF = "def classify(image):\n    r, g, b = image.getpixel((0, 0))\n    return 0 if r > g else 2\n"
CRASH = "def classify(image):\n    raise RuntimeError('not implemented yet')\n"
DOWNLOAD = (
    "import torch\n"
    "torch.hub.load_state_dict_from_url('https://download.pytorch.org/models/resnet18-f37072fd.pth')\n"
    "def classify(image):\n    return 0\n"
)
