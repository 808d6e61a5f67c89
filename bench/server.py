"""The service under test, started the way ``flowcc serve`` starts it, in its own process.

BENCH_SERVER_LOG=<file> keeps its log at INFO (batch sizes and times, start-up steps) for study;
otherwise its output is dropped so the benchmark's own output stays readable.
"""

from __future__ import annotations

import os
import subprocess
import sys

from app.board.wire import PROTOCOL


def start(env: dict[str, str], port: int, *options: str) -> subprocess.Popen[bytes]:
    return _spawn(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
         "--port", str(port), "--no-access-log", "--ws-per-message-deflate", "false",
         "--ws", PROTOCOL, *options],
        env,
    )  # fmt: skip


def start_consumer(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``flowcc consume``: the consumers in a process of their own, beside board processes
    started with FLOWCC_RUN_CONSUMERS=false."""
    return _spawn([sys.executable, "-m", "app.cli", "consume"], env)


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log_path = os.environ.get("BENCH_SERVER_LOG")
    if log_path:
        env = env | {"FLOWCC_LOG_LEVEL": "INFO"}
    log_file = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file)


def stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
