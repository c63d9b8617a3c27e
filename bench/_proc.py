"""What the benchmarks read of the processes they start: free ports, CPU time, memory."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores, every process)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def free_block(count: int) -> int:
    """The first of `count` consecutive ports free for UDP and TCP."""
    for first in range(21000, 60000 - count, count + 7):
        sockets: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    sock = socket.socket(socket.AF_INET, kind)
                    sockets.append(sock)
                    sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free block of ports")


def cpu_or_0(pid: int) -> float:
    """`cpu_s`, or 0 for a process gone meanwhile."""
    try:
        return cpu_s(pid)
    except OSError:
        return 0.0


def rss_or_0(pid: int) -> float:
    """`rss_mb`, or 0 for a process gone meanwhile."""
    try:
        return rss_mb(pid)
    except OSError:
        return 0.0


def descendants(pid: int) -> list[int]:
    """The process and all its descendants (a pool's workers, Kamailio's children), parents first."""
    found, todo = [], [pid]
    while todo:
        pid = todo.pop(0)
        try:
            todo += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            continue
        found.append(pid)
    return found


@dataclass
class Process:
    """A process a benchmark started, measured with everything it started in turn."""

    name: str
    popen: subprocess.Popen[bytes]
    cpu0: float = 0.0

    def pids(self) -> list[int]:
        return descendants(self.popen.pid)

    def cpu(self) -> float:
        return sum(cpu_or_0(pid) for pid in self.pids())

    def rss(self) -> float:
        return sum(rss_or_0(pid) for pid in self.pids())


def postgres_pids(version: str, cluster: str) -> list[int]:
    """A Debian cluster's postmaster and its children (backends, WAL writer, checkpointer …)."""
    try:
        pid_file = Path(f"/var/lib/postgresql/{version}/{cluster}/postmaster.pid")
        master = int(pid_file.read_text().split()[0])
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except (OSError, ValueError, IndexError):
        return []
    return [master, *(int(p) for p in children)]
