import torch
from torch import nn


def fit_predict(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor) -> torch.Tensor:
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    model = nn.Sequential(nn.Linear(train_x.shape[1], 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(200):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model((train_x - mean) / std), train_y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return model((test_x - mean) / std).argmax(dim=1)
