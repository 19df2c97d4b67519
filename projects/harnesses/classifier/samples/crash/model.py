import torch


def fit_predict(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor) -> torch.Tensor:
    weights = torch.zeros(train_x.shape[1], 3)
    logits = train_x @ weights.T  # shape mistake: (300, 8) @ (3, 8)
    return logits.argmax(dim=1)
