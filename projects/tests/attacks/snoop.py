"""Look for secrets: settings, other jobs, hidden data, the worker's environment.

argv[1] is a JSON list of paths to try (the test passes the checkout's own settings and
manage.py wherever the checkout lies, so the probe never depends on one machine's layout).
Prints {"read": {path: first bytes}, "errors": {path: error}, "environ": ...}.
"""

import glob
import json
import os
import sys

paths = json.loads(sys.argv[1]) + [
    "/proc/1/environ",
    "/proc/1/cmdline",
    "/proc/self/environ",
    "/etc/shadow",
    "/root/.ssh",
    "/var/run/postgresql",
    "/home",
]
paths += sorted(glob.glob("/proc/[0-9]*/environ"))
read, errors = {}, {}
for path in paths:
    try:
        if os.path.isdir(path):
            read[path] = "dir:" + ",".join(sorted(os.listdir(path)))
        else:
            with open(path, "rb") as fh:
                read[path] = fh.read(4096).decode(errors="replace")
    except OSError as exc:
        errors[path] = f"{exc.errno}:{exc.strerror}"
found = []
tops = ["/tmp", "/dev/shm", "/job", "/root", "/etc", *json.loads(sys.argv[2] if len(sys.argv) > 2 else "[]")]
for top in tops:
    for dirpath, _dirnames, filenames in os.walk(top):
        found += [os.path.join(dirpath, f) for f in filenames if "site-packages" not in dirpath]
print(json.dumps({"read": read, "errors": errors, "environ": dict(os.environ), "files": found[:500]}))
