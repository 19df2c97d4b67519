"""Leave files in /tmp and /dev/shm, or (with "look") report what is there."""

import json
import os
import sys

if sys.argv[1] == "leave":
    for folder in ("/tmp", "/dev/shm"):
        with open(os.path.join(folder, "planted"), "w") as fh:
            fh.write("from an earlier job")
        os.mkfifo(os.path.join(folder, "planted.fifo"))
else:
    print(json.dumps({folder: sorted(os.listdir(folder)) for folder in ("/tmp", "/dev/shm")}))
