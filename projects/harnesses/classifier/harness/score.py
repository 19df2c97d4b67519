"""Score step of the classifier harness: accuracy on hidden labels, in thresholds.

Trusted code: it never imports the student's module; outputs/ is untrusted.
"""

import json
import os

import numpy as np

THRESHOLDS = [(0.60, 3), (0.75, 3), (0.85, 3)]  # (accuracy at least, points)
VALID_POINTS = 1
MAX_BYTES = 1024 * 1024

status = json.load(open("predict_status.json"))
labels = np.load("hidden/test_y.npy", allow_pickle=False)
classes = int(np.load("public/train_y.npy", allow_pickle=False).max()) + 1


def load_predictions() -> tuple[np.ndarray | None, str]:
    path = "outputs/predictions.npy"
    if not os.path.isfile(path):
        why = status["message"] or "wrote no predictions"
        return None, f"No predictions: the predict step {why}."
    if os.path.getsize(path) > MAX_BYTES:
        return None, "outputs/predictions.npy is too large."
    try:
        pred = np.load(path, allow_pickle=False)
    except Exception as exc:
        return None, f"outputs/predictions.npy could not be read ({type(exc).__name__})."
    if pred.shape != labels.shape or pred.dtype.kind not in "iu":
        return None, f"Expected {labels.shape[0]} integer labels, got {pred.dtype} {pred.shape}."
    if pred.min() < 0 or pred.max() >= classes:
        return None, f"Labels must be in 0..{classes - 1}."
    return pred, f"{labels.shape[0]} labels"


pred, message = load_predictions()
accuracy = float((pred == labels).mean()) if pred is not None else 0.0
tests = [
    {
        "name": "predictions are valid",
        "score": VALID_POINTS if pred is not None else 0,
        "max_score": VALID_POINTS,
        "output": message,
        "visibility": "visible",
    }
]
for at_least, points in THRESHOLDS:
    ok = pred is not None and accuracy >= at_least
    tests.append(
        {
            "name": f"test accuracy at least {at_least:.0%}",
            "score": points if ok else 0,
            "max_score": points,
            "output": f"accuracy {accuracy:.3f}" if pred is not None else "no valid predictions",
            "visibility": "visible",
        }
    )
output = f"Test accuracy: {accuracy:.3f}" if pred is not None else message
if not status["ok"] and status.get("stderr_tail"):
    output += f"\nLast lines your code printed to stderr:\n{status['stderr_tail'][-1500:]}"
with open("results.json", "w") as fh:
    json.dump({"score": sum(t["score"] for t in tests), "tests": tests, "output": output}, fh, indent=1)
