"""Double-fork a daemon that waits for the next job and gives it full marks.

The step itself writes a wrong answer and exits at once.  The daemon (its own
session, ignoring SIGTERM/SIGHUP/SIGINT) waits a second, for its own step to be
over, then spends two minutes writing the answer
given in argv[1] (a JSON object) wherever a later job's outputs could be: its own
folder, /tmp, /dev/shm and the host's temp folders where runners make their job
folders.  It also records, in /tmp and /dev/shm, that it was alive, for a later
job to find.
"""

import glob
import json
import os
import signal
import sys
import time

answer = sys.argv[1] if len(sys.argv) > 1 else json.dumps({"a": 1, "b": 2, "c": 3, "d": 4})
os.makedirs("outputs", exist_ok=True)
with open("outputs/answer.json", "w") as fh:
    fh.write("{}")

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        patterns = [
            "/job/outputs",
            "/tmp/*/outputs",
            "/tmp/grade-*/predict-*/outputs",
            "/tmp/*/grade-*/predict-*/outputs",
            "/var/tmp/grade-*/predict-*/outputs",
            "/dev/shm/grade-*/predict-*/outputs",
        ]
        time.sleep(1)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for folder in ("/tmp", "/dev/shm"):
                try:
                    with open(os.path.join(folder, "lurker-was-here"), "w") as fh:
                        fh.write(str(time.time()))
                except OSError:
                    pass
            for pattern in patterns:
                for outputs in glob.glob(pattern):
                    try:
                        with open(os.path.join(outputs, "answer.json"), "w") as fh:
                            fh.write(answer)
                    except OSError:
                        pass
            time.sleep(0.05)
        os._exit(0)
    os._exit(0)
os.wait()
print("the step ends; the daemon stays")
