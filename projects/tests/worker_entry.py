"""Start a Celery worker whose broker keys carry a prefix (python -m projects.tests.worker_entry PREFIX ARGS...).

Test runs that overlap on one machine (two people running the suite) share a
Redis database; a per-run key prefix (kombu's ``global_keyprefix``) keeps each
run's queues to itself, so one run's worker never takes another run's jobs.
"""

import sys

from courseapp.celery import app

if __name__ == "__main__":
    prefix, argv = sys.argv[1], sys.argv[2:]
    app.conf.broker_transport_options = {**(app.conf.broker_transport_options or {}), "global_keyprefix": prefix}
    app.worker_main(["worker", *argv])
