"""10 points when outputs/answer.txt says 42; lists what it found in outputs/."""

import json
import os

try:
    answer = open("outputs/answer.txt").read().strip()
except OSError:
    answer = None
found = sorted(os.listdir("outputs"))
writable = os.access("outputs/answer.txt", os.W_OK)
score = 10 if answer == "42" else 0
with open("results.json", "w") as fh:
    json.dump(
        {
            "score": score,
            "output": json.dumps({"found": found, "answer": answer, "outputs_writable": writable}),
        },
        fh,
    )
