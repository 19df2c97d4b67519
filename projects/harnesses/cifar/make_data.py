"""Generate the 'cifar-mini' dataset: 32x32 RGB PNGs in 10 classes (CIFAR-style), deterministic.

    python projects/harnesses/cifar/make_data.py [DEST]     # default: var/datasets/cifar-mini

Writes DEST/train/<class>/<n>.png (400 images, torchvision ImageFolder layout),
DEST/test/<n>.png (200 unlabeled images), DEST/classes.txt, and the test labels
to harness/hidden/test_labels.json (only the score step sees them).  Register
the dataset with ``python manage.py dataset_add cifar-mini DEST``.

A class is one of 5 colours times one of 2 stripe directions, drawn with noise
and a random phase: a model that only looks at colour gets about half right,
one that also sees the stripes gets nearly all.  Stdlib + NumPy only (the PNGs
are written by hand), so it runs with the worker's own interpreter.
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 200), "yellow": (210, 200, 40),
           "purple": (150, 50, 170)}
CLASSES = sorted(f"{colour}-{way}" for colour in COLOURS for way in ("horizontal", "vertical"))  # ImageFolder order
TRAIN_PER_CLASS, TEST = 40, 200


def png(pixels: np.ndarray) -> bytes:
    height, width, _ = pixels.shape
    raw = b"".join(b"\0" + pixels[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def image(label: int, rng: np.random.Generator) -> np.ndarray:
    colour = np.array(COLOURS[CLASSES[label].split("-")[0]], dtype=float)
    vertical = CLASSES[label].endswith("vertical")
    period = rng.integers(6, 11)
    phase = rng.integers(0, period)
    index = np.arange(32)
    stripes = ((index + phase) // (period // 2)) % 2  # 0/1 bands
    mask = np.tile(stripes, (32, 1)) if vertical else np.tile(stripes[:, None], (1, 32))
    base = 0.35 + 0.65 * mask[..., None]
    pixels = base * colour + rng.normal(0, 18, (32, 32, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def main(dest: Path, labels_file: Path = HERE / "harness" / "hidden" / "test_labels.json") -> None:
    rng = np.random.default_rng(501)
    for label, name in enumerate(CLASSES):
        folder = dest / "train" / name
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(TRAIN_PER_CLASS):
            (folder / f"{n:03d}.png").write_bytes(png(image(label, rng)))
    (dest / "test").mkdir(parents=True, exist_ok=True)
    labels = {}
    for n in range(TEST):
        label = int(rng.integers(0, len(CLASSES)))
        (dest / "test" / f"{n:03d}.png").write_bytes(png(image(label, rng)))
        labels[f"{n:03d}.png"] = label
    (dest / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    labels_file.write_text(json.dumps(labels, indent=0) + "\n")
    print(f"wrote {len(CLASSES) * TRAIN_PER_CLASS} training and {TEST} test images to {dest}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "var" / "datasets" / "cifar-mini")
