"""Start a Celery worker on a test's own broker (python -m projects.tests.worker_entry OPTIONS_JSON ARGS...).

OPTIONS_JSON is the test broker's transport options (realworker.Broker), laid
over the settings' ones: on Redis a per-test key prefix (kombu's
``global_keyprefix``), on the filesystem transport private queue/processed/
control folders.  Test runs that overlap on one machine (two people running the
suite) therefore never share queues, and one run's worker never takes another
run's jobs.
"""

import json
import sys

from courseapp.celery import app

if __name__ == "__main__":
    options, argv = json.loads(sys.argv[1]), sys.argv[2:]
    app.conf.broker_transport_options = {**(app.conf.broker_transport_options or {}), **options}
    app.worker_main(["worker", *argv])
