"""A wrong answer, plus every way of claiming full marks it can think of."""

import json
import os

claim = json.dumps({"score": 10, "tests": [{"name": "all", "score": 10, "max_score": 10}]})
os.makedirs("outputs", exist_ok=True)
with open("outputs/answer.txt", "w") as fh:
    fh.write("41\n")
targets = [
    "results.json",
    "outputs/results.json",
    "../results.json",
    "/tmp/results.json",
    "/job/../results.json",
    "/results.json",
    "../score/results.json",
]
for target in targets:
    try:
        with open(target, "w") as fh:
            fh.write(claim)
    except OSError:
        pass
os.symlink("/etc/passwd", "outputs/passwd-link")
os.symlink("../results.json", "outputs/results-link")
os.mkfifo("outputs/fifo")
# A daemon that waits for the score step to write its results.json, then overwrites it.
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        import time

        for _ in range(100):
            for path in ("/job/results.json", "results.json"):
                try:
                    with open(path, "w") as fh:
                        fh.write(claim)
                except OSError:
                    pass
            time.sleep(0.05)
        os._exit(0)
    os._exit(0)
os.wait()
