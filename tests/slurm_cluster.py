"""A real single-node Slurm on localhost for tests: munged, slurmctld and slurmd started
without systemd from a minimal ``slurm.conf`` under a temporary folder, no accounting.

``python tests/slurm_cluster.py FOLDER`` starts one and keeps it up until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTITION = "bench"


def slurm_installed() -> bool:
    """Whether the daemons and client commands of Slurm and munge are on PATH (or sbin)."""
    return all(_which(name) for name in ("munged", "slurmctld", "slurmd", "sinfo", "sbatch"))


def _which(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def write_config(folder: Path) -> dict[str, str]:
    """``slurm.conf`` for one node (this machine's CPUs and memory) and one partition;
    returns the environment that points Slurm's commands at it."""
    for name in ("state", "spool", "log"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True,
                          check=True).stdout.strip()
    cpus = os.cpu_count() or 1
    conf = folder / "slurm.conf"
    conf.write_text(f"""\
ClusterName=rgbdtest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder / 'munge.socket'}
StateSaveLocation={folder / 'state'}
SlurmdSpoolDir={folder / 'spool'}
SlurmctldPidFile={folder / 'slurmctld.pid'}
SlurmdPidFile={folder / 'slurmd.pid'}
SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}
SlurmdLogFile={folder / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={_memory_mb() - 512} State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")
    return {"SLURM_CONF": str(conf)}


@contextmanager
def slurm_cluster(folder: Path, timeout: float = 60) -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd under ``folder``; yield the environment to run
    Slurm's commands with (``SLURM_CONF``); stop them on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **write_config(folder))
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    daemons: list[subprocess.Popen] = []
    log = (folder / "log" / "daemons.log").open("ab")
    try:
        daemons.append(subprocess.Popen(
            [_which("munged"), "--foreground", "--force", f"--key-file={key}",
             f"--socket={folder / 'munge.socket'}", f"--pid-file={folder / 'munged.pid'}",
             f"--log-file={folder / 'log' / 'munged.log'}",
             f"--seed-file={folder / 'munge.seed'}"],
            stdout=log, stderr=log, env=env))
        _wait(lambda: (folder / "munge.socket").exists(), timeout, "munged", folder)
        daemons.append(subprocess.Popen([_which("slurmctld"), "-D", "-i"],
                                        stdout=log, stderr=log, env=env))
        daemons.append(subprocess.Popen([_which("slurmd"), "-D", "-N", "localhost"],
                                        stdout=log, stderr=log, env=env))
        _wait(lambda: _node_idle(env), timeout, "the node to be idle", folder)
        yield env
    finally:
        for daemon in reversed(daemons):
            daemon.terminate()
        for daemon in reversed(daemons):
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        log.close()


def _node_idle(env: dict[str, str]) -> bool:
    done = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                          env=env)
    return done.returncode == 0 and done.stdout.strip() == "idle"


def _wait(ready, timeout: float, what: str, folder: Path) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                             for p in sorted((folder / "log").glob("*.log")))
            raise RuntimeError(f"Slurm test cluster: no {what} after {timeout:.0f} s\n{logs}")
        time.sleep(0.5)


if __name__ == "__main__":
    with slurm_cluster(Path(sys.argv[1]).resolve()) as cluster_env:
        print(f"export SLURM_CONF={cluster_env['SLURM_CONF']}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
