"""``manage.py harness_env HARNESS``: build (or check) a harness's Python environment on this node.

HARNESS is a harness folder or zip, or the id of an uploaded harness version
(then the state is also recorded for the instructor's pages).  Exit status 0
when the environment is ready, 3 when it cannot be built (the message names the
requirements line to fix), 2 with --check when it is not built yet.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from projects.environments import environment_build, node_stores
from projects.models import HarnessBundle
from projects.runner import environments as envs
from projects.runner.harness import HarnessError, load_harness


class Command(BaseCommand):
    help = "Build (or with --check, report) the [environment] of a harness on this node."

    def add_arguments(self, parser) -> None:
        parser.add_argument("harness", help="harness folder or zip, or an uploaded harness version's id")
        parser.add_argument("--check", action="store_true", help="report the state; build nothing")
        parser.add_argument("--force", action="store_true", help="rebuild after a failed build")
        parser.add_argument("--gpu", action="store_true", help="build as a GPU worker would (index = cuda by default when gpus = 1)")

    def handle(self, *args, **options) -> None:
        target = options["harness"]
        bundle = None
        if target.isdigit() and not Path(target).exists():
            bundle = HarnessBundle.objects.filter(pk=int(target)).first()
            if bundle is None:
                raise CommandError(f"No uploaded harness version with id {target}.")
            from projects import storage

            path = storage.harness_abspath(bundle.path)
        else:
            path = Path(target)
        try:
            harness = load_harness(path)
        except HarnessError as exc:
            raise CommandError(str(exc), returncode=3) from None
        if harness.environment is None:
            self.stdout.write(f"{harness.name}: no [environment]; steps run with the worker's interpreter.")
            return
        stores = node_stores()
        gpu = options["gpu"] and bool(harness.gpus)  # what a GPU worker would build: cuda only for gpus = 1
        digest = envs.spec_digest(harness.environment, gpu=gpu)
        state = envs.environment_state(digest, root=stores.env_root)
        if options["check"]:
            self._report(harness.name, state)
            if state.state != "ready":
                raise CommandError(f"environment {digest[:12]} is {state.state}", returncode=2)
            return
        if bundle is not None:
            row = environment_build(bundle=bundle, gpu=gpu, force=options["force"])
            state = envs.environment_state(digest, root=stores.env_root)
            if row is not None and row.state == "failed":
                raise CommandError(row.error, returncode=3)
        else:
            try:
                envs.ensure_environment(harness.environment, root=stores.env_root, sources=stores.sources,
                                        gpu=gpu, force=options["force"],
                                        on_log=lambda line: self.stderr.write(line))
            except envs.EnvironmentError_ as exc:
                raise CommandError(str(exc), returncode=3) from None
            state = envs.environment_state(digest, root=stores.env_root)
        self._report(harness.name, state)

    def _report(self, name: str, state: envs.EnvState) -> None:
        self.stdout.write(f"{name}: environment {state.digest[:12]} is {state.state}")
        if state.state == "ready":
            meta = state.meta
            self.stdout.write(f"  {len(meta.get('packages', []))} packages, {meta.get('size_bytes', 0) / 1e6:.0f} MB, "
                              f"built in {meta.get('build_s')} s (Python {meta.get('python')}, {meta.get('index')})")
            for line in meta.get("packages", []):
                self.stdout.write(f"  {line}")
        elif state.error:
            self.stdout.write(state.error)
