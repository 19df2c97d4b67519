"""Train the student's model on /data/cifar/train with torchvision, predict /data/cifar/test.

The harness owns the training loop (fixed seed, epochs, optimiser), so the grade
measures the architecture.  Writes outputs/predictions.json, outputs/log.json
and outputs/loss.png (matplotlib), and exits non-zero when a stage failed.
"""

import importlib.util
import json
import os
import sys
import time
import traceback

import matplotlib.pyplot as plt
import torch
import torchvision
from PIL import Image
from torchvision import transforms
from tqdm import tqdm

DATA = os.path.join(os.environ.get("DATA_DIR", "/data"), "cifar")
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
log = {"torch": torch.__version__, "torchvision": torchvision.__version__, "errors": {}}


def save_log() -> None:
    with open("outputs/log.json", "w") as fh:
        json.dump(log, fh, indent=1)


def main() -> int:
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    log["device"] = device
    train_tf = transforms.Compose([transforms.RandomCrop(32, padding=2), transforms.ToTensor(),
                                   transforms.Normalize(MEAN, STD)])
    test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    train = torchvision.datasets.ImageFolder(os.path.join(DATA, "train"), transform=train_tf)
    loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True, num_workers=0)

    spec = importlib.util.spec_from_file_location("model", "submission/model.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        model = module.build_model(len(train.classes)).to(device)
        epochs = int(getattr(module, "EPOCHS", 4))
    except Exception:
        log["errors"]["build_model"] = traceback.format_exc(limit=3)
        save_log()
        traceback.print_exc()
        return 1
    epochs = max(1, min(epochs, 8))
    optimiser = torch.optim.Adam(model.parameters(), lr=float(getattr(module, "LR", 1e-3)))
    losses = []
    started = time.monotonic()
    try:
        model.train()
        for epoch in range(epochs):
            for images, labels in tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", file=sys.stdout, mininterval=2):
                optimiser.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(images.to(device)), labels.to(device))
                loss.backward()
                optimiser.step()
                losses.append(float(loss.detach()))
    except Exception:
        log["errors"]["train"] = traceback.format_exc(limit=3)
        save_log()
        traceback.print_exc()
        return 1
    log["train_s"] = round(time.monotonic() - started, 2)
    log["final_loss"] = losses[-1]

    plt.figure(figsize=(4, 3))
    plt.plot(losses)
    plt.xlabel("step")
    plt.ylabel("training loss")
    plt.tight_layout()
    plt.savefig("outputs/loss.png")

    predictions = {}
    model.eval()
    with torch.no_grad():
        for name in sorted(os.listdir(os.path.join(DATA, "test"))):
            with Image.open(os.path.join(DATA, "test", name)) as img:
                x = test_tf(img.convert("RGB")).unsqueeze(0).to(device)
            predictions[name] = int(model(x).argmax(dim=1).item())
    with open("outputs/predictions.json", "w") as fh:
        json.dump(predictions, fh)
    save_log()
    return 0


if __name__ == "__main__":
    sys.exit(main())
