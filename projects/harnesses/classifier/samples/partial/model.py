import torch
from torch import nn


def fit_predict(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor) -> torch.Tensor:
    # Mistake kept on purpose: only the first feature is used.
    train_x, test_x = train_x[:, :1], test_x[:, :1]
    model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(train_x), train_y).backward()
        optimizer.step()
    with torch.no_grad():
        return model(test_x).argmax(dim=1)
