"""Score step of the mhsa harness: compare the predictions with hidden/reference.py.

Trusted code: it never imports the student's module.  outputs/ was written by
student code, so every value read from it is checked before use.
"""

import json
import os
import sys

import torch

sys.path.insert(0, "hidden")
from reference import attention  # noqa: E402

PARAMS = [f"{p}.{w}" for p in ("q_proj", "k_proj", "v_proj", "out_proj") for w in ("weight", "bias")]
ATOL, RTOL = 1e-4, 1e-3
MAX_PREDICTIONS_BYTES = 10 * 1024 * 1024

status = json.load(open("predict_status.json"))
cases = torch.load("public/cases.pt", weights_only=True)
num_heads = int(cases["num_heads"])

# Expected values, in float64 on the CPU.
weights = {k: cases[k].double().requires_grad_(True) for k in PARAMS}
x = cases["x"].double().requires_grad_(True)
out = attention(weights, x, num_heads)
out.backward(cases["grad_out"].double())
expected = {"out": out.detach(), "grad_x": x.grad}
expected.update({f"grad_{k}": w.grad for k, w in weights.items()})
with torch.no_grad():
    expected["out_masked"] = attention(weights, cases["x"].double(), num_heads, cases["mask"])


def load_untrusted() -> tuple[dict, dict, str]:
    """(predictions, stage errors, problem) from outputs/, tolerating anything."""
    predictions, errors, problem = {}, {}, ""
    path = "outputs/predictions.pt"
    try:
        if os.path.getsize(path) > MAX_PREDICTIONS_BYTES:
            raise ValueError("outputs/predictions.pt is too large")
        loaded = torch.load(path, weights_only=True, map_location="cpu")
        if isinstance(loaded, dict):
            predictions = {
                k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, torch.Tensor)
            }
    except Exception as exc:  # missing, truncated, or not plain tensors
        problem = f"no usable predictions ({type(exc).__name__})"
    try:
        log = json.load(open("outputs/log.json"))
        errors = {str(k): str(v)[-1500:] for k, v in log.get("errors", {}).items()}
    except Exception:
        pass
    return predictions, errors, problem


predictions, errors, problem = load_untrusted()
if not status["ok"]:
    why = status["message"] or status["status"]
    problem = f"{problem}; the predict step {why}" if problem else f"the predict step {why}"


def compare(keys: list[str], stage: str) -> tuple[bool, str]:
    lines, ok = [], True
    for key in keys:
        got, want = predictions.get(key), expected[key]
        if got is None:
            ok = False
            lines.append(f"{key}: missing")
        elif tuple(got.shape) != tuple(want.shape):
            ok = False
            lines.append(f"{key}: shape {tuple(got.shape)}, expected {tuple(want.shape)}")
        else:
            got = got.double()
            diff = (got - want).abs().max().item() if got.isfinite().all() else float("inf")
            close = torch.allclose(got, want, atol=ATOL, rtol=RTOL)
            ok = ok and close
            lines.append(f"{key}: max |difference| {diff:.2e}" + ("" if close else " (too large)"))
    if not ok:
        if stage in errors:
            lines.append(f"your code raised during the {stage} pass:\n{errors[stage]}")
        elif "setup" in errors:
            lines.append(f"your module could not be set up:\n{errors['setup']}")
        elif problem:
            lines.append(problem)
    return ok, "\n".join(lines)


def shape_test() -> tuple[bool, str]:
    got = predictions.get("out")
    want = tuple(expected["out"].shape)
    if got is None:
        return compare(["out"], "unmasked")
    if tuple(got.shape) == want:
        return True, f"output shape {want}"
    return False, f"output shape {tuple(got.shape)}, expected {want} (batch, seq, embed_dim)"


TESTS = [
    ("output shape", 1, shape_test),
    ("output without mask", 3, lambda: compare(["out"], "unmasked")),
    ("output with causal + padding mask", 2, lambda: compare(["out_masked"], "masked")),
    ("gradient with respect to the input", 2, lambda: compare(["grad_x"], "unmasked")),
    ("gradients of the parameters", 2, lambda: compare([f"grad_{k}" for k in PARAMS], "unmasked")),
]
tests = []
for name, points, check in TESTS:
    ok, output = check()
    tests.append(
        {
            "name": name,
            "score": points if ok else 0,
            "max_score": points,
            "output": output,
            "visibility": "visible",
        }
    )
summary = f"Problem: {problem}\n" if problem else ""
if not status["ok"] and status.get("stderr_tail"):
    summary += f"Last lines your code printed to stderr:\n{status['stderr_tail'][-1500:]}"
with open("results.json", "w") as fh:
    json.dump({"score": sum(t["score"] for t in tests), "tests": tests, "output": summary}, fh, indent=1)
