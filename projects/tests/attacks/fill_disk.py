"""Fill the disk at the folder given: one huge file, or many 1 MB files ("many")."""

import os
import sys

folder, mode = sys.argv[1], sys.argv[2]
block = b"\0" * (1 << 20)
if mode == "one":
    with open(os.path.join(folder, "huge"), "wb") as fh:
        while True:
            fh.write(block)
            fh.flush()
i = 0
while True:
    with open(os.path.join(folder, f"f{i}"), "wb") as fh:
        fh.write(block)
    i += 1
