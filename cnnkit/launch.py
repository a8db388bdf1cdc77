"""Start one command as N local processes of a ``keras.distribution`` job, and watch them.

``python -m cnnkit train ... --processes N`` calls :func:`run_processes`: it picks a free port
on this machine for the coordinator, starts N copies of the command with ``--coordinator
127.0.0.1:PORT --num-processes N --process-id I`` on the JAX backend, shows process 0's output
(the others' is kept and shown only if they fail), and when one process ends with an error the
others are stopped at once, so that nothing waits for a process that is gone. Running the same
command again resumes from the last finished epoch (process 0 keeps the run folder).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

STOP_GRACE_SECONDS = 5  # after SIGTERM, how long a process may take before SIGKILL


def free_port() -> int:
    """A TCP port that is free on this machine now (the operating system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_processes(arguments: list[str], count: int, poll_seconds: float = 0.2) -> int:
    """Run ``python -m cnnkit ARGUMENTS`` as ``count`` JAX processes on this machine; returns
    the exit status: 0 when all finished, else the failing process's (2 for a bad argument)."""
    port = free_port()
    commands = [[*arguments, "--coordinator", f"127.0.0.1:{port}", "--num-processes", str(count),
                 "--process-id", str(rank)] for rank in range(count)]  # fmt: skip
    return _watch(commands, list(range(count)), count, poll_seconds)


def supervise(arguments: list[str], process_id: int, count: int, poll_seconds: float = 0.2) -> int:
    """Run one process of a job (``--coordinator``) as a child and watch it: JAX ends a process
    that cannot join, or whose peers died, with a fatal log (an abort, not an exception), which
    this turns into one line."""
    return _watch([arguments], [process_id], count, poll_seconds)


def _watch(commands: list[list[str]], ranks: list[int], count: int, poll_seconds: float) -> int:
    """Start every command (``python -m cnnkit COMMAND --supervised``) with its standard error
    kept in a file, show the first one's output, and stop all as soon as one fails."""
    environment = {**os.environ, "KERAS_BACKEND": "jax"}
    processes, logs, kept = [], [], set()
    try:
        for rank, command in enumerate(commands):
            log = tempfile.NamedTemporaryFile(mode="w+", prefix="cnnkit-process-", suffix=".log", delete=False)
            logs.append(log)
            processes.append(subprocess.Popen([sys.executable, "-m", "cnnkit", *command, "--supervised"],
                                              env=environment, stdout=None if rank == 0 else subprocess.DEVNULL,
                                              stderr=log))  # fmt: skip
        while True:
            codes = [process.poll() for process in processes]
            failed = [rank for rank, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                _stop(processes)
                code, keep = _report(ranks[failed[0]], codes[failed[0]], logs[failed[0]].name, count,
                                     stopped_others=len(commands) > 1)  # fmt: skip
                kept |= keep
                return code
            if all(code == 0 for code in codes):
                return 0
            time.sleep(poll_seconds)
    except BaseException:  # Ctrl-C, or anything else: never leave processes behind
        _stop(processes)
        raise
    finally:
        for log in logs:
            log.close()
            if log.name not in kept:
                os.unlink(log.name)


def _report(rank: int, code: int, log: str, count: int, stopped_others: bool) -> tuple[int, set[str]]:
    """Say why process ``rank`` ended: its own error (a Python error keeps its traceback), or,
    for a process that JAX or a signal ended, one line that points to its log."""
    with open(log) as handle:
        text = handle.read()
    lost = any(word in text for word in ("CoordinationService", "coordination service", "Gloo"))
    if code in (1, 2) and ("Traceback" in text or "error:" in text) and not lost:
        shown = text[text.index("Traceback"):] if "Traceback" in text else text.splitlines()[-1]
        print(shown.rstrip(), file=sys.stderr)
        keep = set()
    else:
        keep = {log}
        joined = "could not join the others or lost them" if lost or "coordination" in text.lower() else "was stopped"
        print(f"error: process {rank} of {count} {joined} ({_describe(code)}; its log: {log}). Check --coordinator "
              "HOST:PORT (process 0's machine, a free port) and that every process has the same --num-processes.",
              file=sys.stderr)  # fmt: skip
    if stopped_others:
        print(f"error: process {rank} of {count} ended with {_describe(code)}, so the other processes were stopped; "
              "run the same command again to resume from the last finished epoch.", file=sys.stderr)  # fmt: skip
    return (code if code in (1, 2) else 1), keep


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"
