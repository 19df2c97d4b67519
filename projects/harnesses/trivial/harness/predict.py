"""Predict step: list the submission's files into outputs/hello.txt (imports nothing heavy)."""

import os

names = sorted(os.listdir("submission"))
with open("outputs/hello.txt", "w") as fh:
    fh.write("hello\n" + "\n".join(names) + "\n")
