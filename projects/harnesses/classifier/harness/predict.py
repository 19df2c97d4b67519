"""Predict step of the classifier harness: train the student's model, save test predictions.

Runs in the sandbox next to the student's code; score.py checks everything it writes.
"""

import sys
import traceback

import numpy as np
import torch

sys.path.insert(0, "submission")
torch.manual_seed(0)
np.random.seed(0)


def load(name: str) -> torch.Tensor:
    return torch.from_numpy(np.load(f"public/{name}.npy", allow_pickle=False))


train_x, train_y, test_x = load("train_x"), load("train_y"), load("test_x")
try:
    from model import fit_predict

    predictions = fit_predict(train_x.clone(), train_y.clone(), test_x.clone())
    predictions = torch.as_tensor(
        np.asarray(predictions.detach().cpu() if isinstance(predictions, torch.Tensor) else predictions)
    )
    if predictions.is_floating_point():
        raise TypeError(
            "fit_predict must return class indices (integers), not scores or probabilities; "
            "use .argmax(dim=1)"
        )
    if predictions.shape != (len(test_x),):
        raise ValueError(
            f"fit_predict returned shape {tuple(predictions.shape)}; "
            f"expected ({len(test_x)},), one label per test row"
        )
    np.save("outputs/predictions.npy", predictions.numpy().astype(np.int64), allow_pickle=False)
except Exception:
    traceback.print_exc(limit=-4)
    sys.exit(1)
