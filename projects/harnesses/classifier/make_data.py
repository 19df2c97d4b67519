"""Regenerate the classifier harness's data (deterministic; plain .npy, no pickle).

    .venv/bin/python projects/harnesses/classifier/make_data.py

public/train_x.npy (float32, N x F), public/train_y.npy (int64), public/test_x.npy;
hidden/test_y.npy: the labels only the score step sees.  Commit the results.
"""

from pathlib import Path

import numpy as np

CLASSES, FEATURES, TRAIN, TEST = 3, 8, 300, 200


def make_split(rng: np.random.Generator, centers: np.ndarray, n: int):
    y = rng.integers(0, CLASSES, size=n)
    # Class structure lives in the first features; the rest is noise of a similar size.
    x = centers[y] + rng.normal(size=(n, FEATURES))
    return x.astype(np.float32), y.astype(np.int64)


def main() -> None:
    rng = np.random.default_rng(501)
    centers = np.zeros((CLASSES, FEATURES))
    centers[:, :4] = rng.normal(scale=1.6, size=(CLASSES, 4))
    train_x, train_y = make_split(rng, centers, TRAIN)
    test_x, test_y = make_split(rng, centers, TEST)
    here = Path(__file__).resolve().parent / "harness"
    for folder, name, array in [
        ("public", "train_x", train_x),
        ("public", "train_y", train_y),
        ("public", "test_x", test_x),
        ("hidden", "test_y", test_y),
    ]:
        np.save(here / folder / f"{name}.npy", array, allow_pickle=False)
    print(f"wrote {TRAIN} training and {TEST} test rows under {here}")


if __name__ == "__main__":
    main()
