"""GPU discovery, worker identity, and a launcher for one Celery worker per GPU.

    python -m projects.gpus list                 # what this node has (NVML or nvidia-smi)
    python -m projects.gpus workers [--dry-run] [--cpu-workers N] [--rerun-gpus 7] [--rerun-workers N]

``workers`` starts, for each GPU found, ``celery worker -Q gpu --concurrency 1
--prefetch-multiplier 1`` with ``CUDA_VISIBLE_DEVICES`` set to that GPU only and
``PROJECTS_WORKER_GPU``/``PROJECTS_WORKER_GPU_NAME`` telling the task which
device it owns (the sandbox then exposes only that device's ``/dev/nvidiaN``).
So a node with 8 GPUs runs 8 jobs at once and never two on one device.  GPUs
named in ``--rerun-gpus`` serve the ``rerun`` queue instead, so instructors'
reruns never take a GPU from students' feedback.  It restarts a worker that
exits and stops them all on SIGTERM/SIGINT.

Imports no Django: a GPU node needs only this, the runner and Celery.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

# The GPU this worker owns, as its device-node number N of /dev/nvidiaN (what the
# sandbox binds). That is the driver's "Device Minor", which need not equal the
# nvidia-smi/CUDA index, so discovery maps one to the other through the PCI bus id.
GPU_ENV = "PROJECTS_WORKER_GPU"
GPU_NAME_ENV = "PROJECTS_WORKER_GPU_NAME"


@dataclasses.dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    uuid: str = ""
    memory_mb: int | None = None
    pci_bus_id: str = ""
    minor: int | None = None  # N of /dev/nvidiaN; None when the driver's /proc entry is unreadable

    @property
    def device_number(self) -> int:
        """The /dev/nvidiaN number the sandbox must expose for this GPU."""
        return self.minor if self.minor is not None else self.index


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """Who is running a job: recorded on the run, used to tell a dead worker from a live one."""

    host: str  # Celery node name (name@machine) or the machine's name
    pid: int
    gpu_index: int | None
    gpu_name: str

    @property
    def machine(self) -> str:
        return self.host.rsplit("@", 1)[-1]


def current_worker(nodename: str | None = None) -> WorkerInfo:
    """This process as a worker: its GPU comes from the launcher's environment, if any."""
    raw = os.environ.get(GPU_ENV, "").strip()
    return WorkerInfo(
        host=nodename or socket.gethostname(),
        pid=os.getpid(),
        gpu_index=int(raw) if raw.isdigit() else None,
        gpu_name=os.environ.get(GPU_NAME_ENV, "") if raw.isdigit() else "",
    )


def discover() -> list[Gpu]:
    """The node's GPUs, from NVML when pynvml is installed, else nvidia-smi; [] without either."""
    try:
        return _from_nvml()
    except Exception:  # no pynvml, no driver: try the CLI
        pass
    return _from_nvidia_smi()


def _from_nvml() -> list[Gpu]:
    import pynvml  # optional dependency

    pynvml.nvmlInit()
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            uuid = pynvml.nvmlDeviceGetUUID(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // (1024 * 1024)
            bus = _text(pynvml.nvmlDeviceGetPciInfo(handle).busId)
            gpus.append(Gpu(index=index, name=_text(name), uuid=_text(uuid), memory_mb=int(memory),
                            pci_bus_id=bus, minor=device_minor(bus)))
        return gpus
    finally:
        pynvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _from_nvidia_smi() -> list[Gpu]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,name,uuid,memory.total,pci.bus_id", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out)


def parse_nvidia_smi(text: str, *, proc: str = "/proc/driver/nvidia/gpus") -> list[Gpu]:
    """Parse ``--query-gpu=index,name,uuid,memory.total,pci.bus_id --format=csv,noheader,nounits``."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0].isdigit():
            continue
        memory = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
        bus = parts[4] if len(parts) > 4 else ""
        gpus.append(Gpu(index=int(parts[0]), name=parts[1], uuid=parts[2] if len(parts) > 2 else "",
                        memory_mb=memory, pci_bus_id=bus, minor=device_minor(bus, proc=proc) if bus else None))
    return gpus


def _bus_key(bus_id: str) -> str:
    """'00000000:17:00.0' (nvidia-smi) and '0000:17:00.0' (/proc) both become '17:00.0'."""
    return bus_id.strip().lower().split(":", 1)[-1]


def device_minor(bus_id: str, *, proc: str = "/proc/driver/nvidia/gpus") -> int | None:
    """The driver's "Device Minor" (N of /dev/nvidiaN) for the GPU at PCI ``bus_id``, or None."""
    try:
        entries = os.listdir(proc)
    except OSError:
        return None
    for entry in entries:
        if _bus_key(entry) != _bus_key(bus_id):
            continue
        try:
            with open(os.path.join(proc, entry, "information"), encoding="utf-8") as info:
                for line in info:
                    key, _, value = line.partition(":")
                    if key.strip() == "Device Minor" and value.strip().isdigit():
                        return int(value.strip())
        except OSError:
            return None
    return None


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    name: str
    queues: tuple[str, ...]
    env: dict[str, str]

    def argv(self, python: str, app: str, loglevel: str) -> list[str]:
        return [
            python, "-m", "celery", "-A", app, "worker", f"--loglevel={loglevel}",
            f"--queues={','.join(self.queues)}", "--concurrency=1", "--prefetch-multiplier=1",
            "--without-gossip", "--without-mingle", f"--hostname={self.name}@%h",
        ]


def plan(gpus: list[Gpu], *, cpu_workers: int = 0, rerun_gpus: tuple[int, ...] = (),
         rerun_workers: int = 0) -> list[WorkerSpec]:
    """One worker per GPU pinned to it (``gpu`` queue, or ``rerun`` for ``rerun_gpus``), plus CPU workers."""
    specs = []
    for gpu in gpus:
        env = {
            # The worker itself sees only its GPU (by UUID when known: immune to ordering);
            # its jobs see only that GPU's device node (GPU_ENV, the /dev/nvidiaN number).
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "CUDA_VISIBLE_DEVICES": gpu.uuid or str(gpu.index),
            GPU_ENV: str(gpu.device_number),
            GPU_NAME_ENV: gpu.name,
        }
        queue = "rerun" if gpu.index in rerun_gpus else "gpu"
        specs.append(WorkerSpec(name=f"{queue}{gpu.index}", queues=(queue,), env=env))
    no_gpu = {"CUDA_VISIBLE_DEVICES": "", GPU_ENV: "", GPU_NAME_ENV: ""}
    for n in range(cpu_workers):
        specs.append(WorkerSpec(name=f"cpu{n}", queues=("cpu", "default"), env=no_gpu))
    for n in range(rerun_workers):
        specs.append(WorkerSpec(name=f"rerun-cpu{n}", queues=("rerun",), env=no_gpu))
    return specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m projects.gpus", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print the GPUs found")
    workers = sub.add_parser("workers", help="start one Celery worker per GPU and supervise them")
    workers.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    workers.add_argument("--cpu-workers", type=int, default=0, help="also start N CPU workers (cpu, default)")
    workers.add_argument("--rerun-gpus", default="", help="comma-separated GPU indexes serving the rerun queue")
    workers.add_argument("--rerun-workers", type=int, default=0, help="CPU workers serving the rerun queue")
    workers.add_argument("--app", default="courseapp")
    workers.add_argument("--loglevel", default="INFO")
    args = parser.parse_args(argv)

    gpus = discover()
    if args.command == "list":
        for gpu in gpus:
            print(f"{gpu.index}\t/dev/nvidia{gpu.device_number}\t{gpu.name}\t{gpu.uuid}\t{gpu.memory_mb or '?'} MB")
        if not gpus:
            print("No GPU found (neither NVML nor nvidia-smi answered).", file=sys.stderr)
        return 0

    rerun = tuple(int(x) for x in args.rerun_gpus.split(",") if x.strip())
    specs = plan(gpus, cpu_workers=args.cpu_workers, rerun_gpus=rerun, rerun_workers=args.rerun_workers)
    if not specs:
        print("No GPU found and no --cpu-workers asked for: nothing to start.", file=sys.stderr)
        return 1
    for spec in specs:
        env = " ".join(f"{k}={v!r}" for k, v in spec.env.items())
        print(f"{env} {' '.join(spec.argv(sys.executable, args.app, args.loglevel))}", flush=True)
    if args.dry_run:
        return 0
    return _supervise(specs, app=args.app, loglevel=args.loglevel)


def _supervise(specs: list[WorkerSpec], *, app: str, loglevel: str) -> int:
    procs: dict[str, subprocess.Popen] = {}
    stopping = False

    def start(spec: WorkerSpec) -> None:
        procs[spec.name] = subprocess.Popen(
            spec.argv(sys.executable, app, loglevel), env={**os.environ, **spec.env}
        )

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()  # warm shutdown: the running job finishes (acks_late)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for spec in specs:
        start(spec)
    while not stopping:
        time.sleep(2)
        for spec in specs:
            if not stopping and procs[spec.name].poll() is not None:
                print(f"worker {spec.name} exited ({procs[spec.name].returncode}); restarting", flush=True)
                start(spec)
    for proc in procs.values():
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
