"""Predict step of the mhsa harness: run the student's module on the fixed cases.

Runs in the sandbox next to the student's code, so score.py trusts nothing this
writes: outputs/predictions.pt holds plain tensors (read with weights_only=True)
and outputs/log.json the error of each stage that failed.
"""

import json
import sys
import traceback

import torch

sys.path.insert(0, "submission")
PARAMS = [f"{p}.{w}" for p in ("q_proj", "k_proj", "v_proj", "out_proj") for w in ("weight", "bias")]

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
cases = torch.load("public/cases.pt", weights_only=True)
embed_dim, num_heads = int(cases["embed_dim"]), int(cases["num_heads"])
predictions: dict[str, torch.Tensor] = {}
errors: dict[str, str] = {}


def failed(stage: str) -> None:
    errors[stage] = traceback.format_exc(limit=-3)
    print(f"--- {stage} failed ---\n{errors[stage]}", file=sys.stderr)


model = None
try:
    from attention import MultiHeadSelfAttention

    model = MultiHeadSelfAttention(embed_dim, num_heads)
    missing = model.load_state_dict({k: cases[k] for k in PARAMS}, strict=False).missing_keys
    if missing:
        raise AttributeError(
            f"MultiHeadSelfAttention has no parameter(s) {', '.join(missing)}; "
            "use nn.Linear layers named q_proj, k_proj, v_proj and out_proj"
        )
    model = model.to(device).float().eval()
except Exception:
    failed("setup")
    model = None

if model is not None:
    try:
        x = cases["x"].to(device).requires_grad_(True)
        out = model(x)
        predictions["out"] = out.detach().cpu()
        out.backward(cases["grad_out"].to(device))
        predictions["grad_x"] = x.grad.detach().cpu()
        params = dict(model.named_parameters())
        for name in PARAMS:
            if params[name].grad is not None:
                predictions[f"grad_{name}"] = params[name].grad.detach().cpu()
    except Exception:
        failed("unmasked")
    try:
        with torch.no_grad():
            masked = model(cases["x"].to(device), mask=cases["mask"].to(device))
        predictions["out_masked"] = masked.detach().cpu()
    except Exception:
        failed("masked")

torch.save(predictions, "outputs/predictions.pt")
with open("outputs/log.json", "w") as fh:
    json.dump({"device": str(device), "errors": errors}, fh)
sys.exit(1 if errors else 0)
