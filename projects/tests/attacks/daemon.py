"""Double-fork a daemon (new session, ignores SIGTERM/SIGHUP) that outlives the step.

It waits, then writes a marker into the job folder and into /tmp, hoping to
tamper with a later job.  The step itself exits at once.
"""

import os
import signal
import sys
import time

delay = float(sys.argv[1])
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        time.sleep(delay)
        for path in ("/job/marker", "/tmp/marker", "/dev/shm/marker"):
            try:
                open(path, "w").write("daemon was here")
            except OSError:
                pass
        time.sleep(3600)
    os._exit(0)
os.wait()
print("parent done")
