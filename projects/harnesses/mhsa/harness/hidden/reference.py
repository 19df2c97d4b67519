"""Reference multi-head self-attention, functional, in float64 (score step only)."""

import math

import torch


def attention(weights: dict[str, torch.Tensor], x: torch.Tensor, num_heads: int, mask=None) -> torch.Tensor:
    batch, seq, embed = x.shape
    head = embed // num_heads

    def proj(name: str, t: torch.Tensor) -> torch.Tensor:
        return t @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, seq, num_heads, head).transpose(1, 2)

    q, k, v = (split(proj(n, x)) for n in ("q_proj", "k_proj", "v_proj"))
    logits = q @ k.transpose(-2, -1) / math.sqrt(head)
    if mask is not None:
        logits = logits.masked_fill(~mask[:, None], float("-inf"))
    context = logits.softmax(dim=-1) @ v
    return proj("out_proj", context.transpose(1, 2).reshape(batch, seq, embed))
