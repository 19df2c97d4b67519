"""Score cifar-mini: accuracy on the hidden test labels, and the loss figure.  Trusts nothing in outputs/."""

import json

status = json.load(open("predict_status.json"))
labels = json.load(open("hidden/test_labels.json"))
tests = []


def add(name, ok, points, output):
    tests.append({"name": name, "score": points if ok else 0, "max_score": points, "output": output})


predictions = {}
try:
    with open("outputs/predictions.json") as fh:
        raw = json.load(fh)
    if isinstance(raw, dict):
        predictions = {k: v for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool)}
except (OSError, ValueError) as exc:
    note = f"no valid outputs/predictions.json ({type(exc).__name__})"
else:
    note = f"{len(predictions)} predictions"
right = sum(1 for name, label in labels.items() if predictions.get(name) == label)
accuracy = right / len(labels)
why = "" if status["ok"] else f"\npredict step: {status['message']}\n{status['stderr_tail'][-1500:]}"
add("predictions for every test image", len(predictions) == len(labels), 1, note + why)
for threshold, points in ((0.4, 3), (0.7, 3), (0.9, 2)):
    add(f"test accuracy at least {threshold:.0%}", accuracy >= threshold, points, f"accuracy {accuracy:.1%}")
try:
    with open("outputs/loss.png", "rb") as fh:
        figure_ok = fh.read(8) == b"\x89PNG\r\n\x1a\n"
except OSError:
    figure_ok = False
add("training loss figure saved (outputs/loss.png)", figure_ok, 1, "a PNG" if figure_ok else "missing")
json.dump({"score": sum(t["score"] for t in tests), "tests": tests,
           "output": f"accuracy {accuracy:.1%} on {len(labels)} test images"}, open("results.json", "w"))
