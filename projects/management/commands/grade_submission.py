"""``manage.py grade_submission HARNESS SUBMISSION``: the runner CLI, through Django.

Same arguments, output and exit status as ``python -m projects.runner`` (one
code path: projects.runner.__main__.run); records nothing in the database.
"""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from projects.environments import node_stores
from projects.runner import __main__ as runner_cli


class Command(BaseCommand):
    help = "Grade one submission (folder or zip) with one harness and print the record as JSON."

    def add_arguments(self, parser) -> None:
        runner_cli.add_arguments(parser)

    def handle(self, *args, **options) -> None:
        keys = ("harness", "submission", "gpu", "work_root", "python", "threads", "quiet", "dataset")
        namespace = argparse.Namespace(**{key: options[key] for key in keys})
        code, reason = runner_cli.run(namespace, self.stdout, self.stderr, stores=node_stores())
        if code:
            raise CommandError(reason, returncode=code)
