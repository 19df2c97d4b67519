"""Ignore SIGTERM/SIGINT/SIGHUP and sleep forever; children do the same."""

import os
import signal
import time

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
os.fork()
while True:
    time.sleep(1)
