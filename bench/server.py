"""The service under test, started the way ``flowcc serve`` starts it, in its own process.

BENCH_SERVER_LOG=<file> keeps its log at INFO (batch sizes and times, start-up steps) for study;
otherwise its output is dropped so the benchmark's own output stays readable.
"""

from __future__ import annotations

import os
import subprocess
import sys


def start(env: dict[str, str], port: int, *options: str) -> subprocess.Popen[bytes]:
    log_path = os.environ.get("BENCH_SERVER_LOG")
    if log_path:
        env = env | {"FLOWCC_LOG_LEVEL": "INFO"}
    log_file = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
         "--port", str(port), "--no-access-log", *options],
        env=env, stdout=log_file, stderr=log_file,
    )  # fmt: skip
