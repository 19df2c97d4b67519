"""Regenerate harness/public/cases.pt, the fixed inputs and weights (deterministic).

    .venv/bin/python projects/harnesses/mhsa/make_data.py

Commit the result; changing it changes the harness digest (harness_version).
"""

from pathlib import Path

import torch

EMBED_DIM, NUM_HEADS, BATCH, SEQ = 16, 4, 2, 6
PADDED = 2  # the second sequence's last two positions are padding


def make_cases() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(501)
    bound = EMBED_DIM**-0.5

    def uniform(*shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=gen) * 2 - 1) * bound

    cases = {"embed_dim": torch.tensor(EMBED_DIM), "num_heads": torch.tensor(NUM_HEADS)}
    for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
        cases[f"{proj}.weight"] = uniform(EMBED_DIM, EMBED_DIM)
        cases[f"{proj}.bias"] = uniform(EMBED_DIM)
    cases["x"] = torch.randn(BATCH, SEQ, EMBED_DIM, generator=gen)
    cases["grad_out"] = torch.randn(BATCH, SEQ, EMBED_DIM, generator=gen)
    # mask[b, i, j] is True when query i may attend to key j: causal, and no padded keys.
    causal = torch.ones(SEQ, SEQ, dtype=torch.bool).tril()
    keys = torch.ones(BATCH, SEQ, dtype=torch.bool)
    keys[1, SEQ - PADDED :] = False
    cases["mask"] = causal[None] & keys[:, None, :]
    return cases


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "harness" / "public" / "cases.pt"
    torch.save(make_cases(), out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
