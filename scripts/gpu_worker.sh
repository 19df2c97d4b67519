#!/usr/bin/env sh
# One Celery worker per GPU of this node, each pinned to its device (CUDA_VISIBLE_DEVICES and
# PROJECTS_WORKER_GPU), found at start through NVML or nvidia-smi; restarted if one exits.
#   scripts/gpu_worker.sh                       # every GPU serves the gpu queue
#   scripts/gpu_worker.sh --rerun-gpus 7        # GPU 7 serves instructors' reruns instead
#   scripts/gpu_worker.sh --cpu-workers 2 --dry-run
# Needs CELERY_BROKER_URL, DATABASE_URL, SUBMISSIONS_ROOT and HARNESS_ROOT (shared volume) set.
set -eu
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m projects.gpus workers "$@"
