"""What the benchmark scripts share: a process's peak memory, and one case per process."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path


def rss_mb() -> float:
    """This process's peak RSS in MB.

    Linux's ``ru_maxrss`` carries the parent's peak across ``exec``, so the
    peak of this process's own memory map (``VmHWM``) is read instead.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_in_process(script: str, *args: str) -> dict | str:
    """Run ``python script *args`` and return the last JSON line it prints, or ``'failed: ...'``.

    Each benchmark case runs so, in a fresh process, so that its peak memory
    and its timings are its own.
    """
    proc = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return "failed: " + ((proc.stderr.strip().splitlines() or ["?"])[-1])[:100]
