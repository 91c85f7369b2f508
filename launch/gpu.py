"""Run a config on several GPU nodes: a SLURM batch script, or plain SSH hosts.

SLURM (one process per GPU; JAX reads the SLURM environment itself):

  python -m launch.gpu slurm --nodes 2 --gpus-per-node 8 --time 24:00:00 \\
      --config configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py --workdir /shared/runs/fe \\
      [--partition gpu] [--config.batch_size=64] [--dry-run]

  writes (or, with --dry-run, prints) the sbatch script and submits it with `sbatch`.
  The script starts --gpus-per-node tasks on each node (`--ntasks-per-node`); every task
  sees all the node's GPUs and JAX's SLURM detection gives it one: process SLURM_PROCID of
  SLURM_NTASKS, GPU number SLURM_LOCALID, coordinator on the first node of
  SLURM_STEP_NODELIST. `#SBATCH --signal=TERM@120` has SLURM send SIGTERM to the job steps
  (the trainers started by srun, not the batch shell) two minutes before the time limit: the
  trainers checkpoint, write the marker file $VIVIT_PREEMPTION_MARKER and exit 0; the script
  then sees the marker and runs `scontrol requeue $SLURM_JOB_ID`, and the requeued job
  resumes from the checkpoint (`--requeue` alone would not requeue a job that exited 0).

SSH hosts (no scheduler; every host has the code and its venv at --remote-dir):

  python -m launch.gpu ssh --hosts node1,node2 --port 12355 --config … --workdir … [--dry-run]

  starts one process per host (using all its GPUs) with
  VIVIT_COORDINATOR_ADDRESS=node1:12355, VIVIT_NUM_PROCESSES and VIVIT_PROCESS_ID set
  (process 0 on the first host), and streams every host's output prefixed with its name.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shlex
import subprocess
import sys
import threading
import time

from launch import common
from launch.common import LaunchError


def slurm_script(args: argparse.Namespace, overrides: list[str]) -> str:
    for flag in ("nodes", "gpus_per_node", "cpus_per_task", "signal_seconds"):
        if getattr(args, flag) < 1:
            raise LaunchError(f"--{flag.replace('_', '-')} must be at least 1, "
                              f"not {getattr(args, flag)}")
    log_dir = common.plain_path(args.log_dir, "--log-dir").rstrip("/")
    marker_dir = log_dir if log_dir.startswith("/") else f"$SLURM_SUBMIT_DIR/{log_dir}"
    n = args.nodes * args.gpus_per_node
    lines = ["#!/bin/bash",
             f"#SBATCH --job-name={args.job_name}",
             f"#SBATCH --nodes={args.nodes}",
             f"#SBATCH --ntasks-per-node={args.gpus_per_node}",
             f"#SBATCH --gpus-per-node={args.gpus_per_node}",
             f"#SBATCH --cpus-per-task={args.cpus_per_task}",
             f"#SBATCH --time={args.time}",
             f"#SBATCH --signal=TERM@{args.signal_seconds}",
             "#SBATCH --requeue",
             "#SBATCH --open-mode=append",
             f"#SBATCH --output={log_dir}/%x-%j.out"]
    if args.partition:
        lines.append(f"#SBATCH --partition={args.partition}")
    train = common.train_command(args.config, args.workdir, overrides,
                                 program=common.venv_program(args.venv))
    lines += [
        f"# {n} processes, one per GPU: JAX reads SLURM_NTASKS, SLURM_PROCID, SLURM_LOCALID",
        "# (the GPU of the node it uses) and the first node of SLURM_STEP_NODELIST.",
        "# SIGTERM (--signal, no B:) goes to the trainers: they checkpoint, write the marker",
        "# and exit 0; this script then requeues the job, which resumes from the checkpoint.",
        "set -euo pipefail",
        f"cd {shlex.quote(args.remote_dir)}",
        "export VIVIT_DISTRIBUTED=auto PYTHONUNBUFFERED=1",
        f'export VIVIT_PREEMPTION_MARKER="{marker_dir}/$SLURM_JOB_ID.preempted"',
        'rm -f "$VIVIT_PREEMPTION_MARKER"',
        f"srun --kill-on-bad-exit=1 --cpus-per-task={args.cpus_per_task} {train}",
        'if [ -e "$VIVIT_PREEMPTION_MARKER" ]; then',
        '  rm -f "$VIVIT_PREEMPTION_MARKER"',
        '  echo "stopped by SIGTERM before the last step: requeueing job $SLURM_JOB_ID"',
        '  scontrol requeue "$SLURM_JOB_ID"',
        "fi"]
    return "\n".join(lines) + "\n"


def ssh_commands(args: argparse.Namespace, overrides: list[str]) -> list[list[str]]:
    hosts = [h for h in args.hosts.split(",") if h]
    if not hosts:
        raise LaunchError("--hosts needs at least one host name")
    program = common.venv_program(args.venv)
    cmds = []
    for i, host in enumerate(hosts):
        env = {"VIVIT_COORDINATOR_ADDRESS": f"{hosts[0]}:{args.port}",
               "VIVIT_NUM_PROCESSES": str(len(hosts)), "VIVIT_PROCESS_ID": str(i),
               "PYTHONUNBUFFERED": "1"}
        train = common.train_command(args.config, args.workdir, overrides, env=env,
                                     program=program)
        cmds.append(["ssh", host, f"cd {shlex.quote(args.remote_dir)} && {train}"])
    return cmds


def _stream(proc: subprocess.Popen, prefix: str) -> None:
    for line in proc.stdout:
        sys.stdout.write(f"{prefix}{line}")
        sys.stdout.flush()


def run_ssh(cmds: list[list[str]]) -> int:
    """Starts every host at once, prefixes their output with the host, waits for all."""
    common.require("ssh", "install an OpenSSH client")
    procs, threads = [], []
    for cmd in cmds:
        print(f"+ {shlex.join(cmd)}", flush=True)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             bufsize=1)
        t = threading.Thread(target=_stream, args=(p, f"[{cmd[1]}] "), daemon=True)
        t.start()
        procs.append(p)
        threads.append(t)
    first_failure = None
    # Poll every host each round (`any(p.poll() …)` would stop at the first running one and
    # never see a later host fail while an earlier one still runs).
    while None in (codes := [p.poll() for p in procs]):
        failed = [i for i, rc in enumerate(codes) if rc not in (None, 0)]
        if failed:  # The others would wait for it in their collectives forever: stop them.
            first_failure = failed[0]
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            break
        time.sleep(1)
    codes = [p.wait() for p in procs]
    for t in threads:
        t.join()
    if first_failure is None:
        first_failure = next((i for i, rc in enumerate(codes) if rc), None)
    if first_failure is None:
        return 0
    rc = codes[first_failure]
    print(f"launch: error: the trainer on {cmds[first_failure][1]} failed (exit code {rc})"
          + ("; stopped the other hosts" if len(procs) > 1 else ""), file=sys.stderr)
    return rc


def parser() -> argparse.ArgumentParser:
    p = common.ArgumentParser(prog="python -m launch.gpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    for name in ("slurm", "ssh"):
        s = sub.add_parser(name)
        s.add_argument("--config", required=True)
        s.add_argument("--workdir", required=True, help="a directory every node can write")
        # SSH: a remote shell starts in the home directory, so `.` would be the home, not the
        # checkout: the default is this checkout's path (the same on every host, e.g. NFS).
        # SLURM: the batch script starts in the submission directory.
        s.add_argument("--remote-dir", default=os.getcwd() if name == "ssh" else ".",
                       help="the code's path on the nodes (default: ssh: this directory's "
                            "path; slurm: the submission directory)")
        s.add_argument("--venv", default=".venv",
                       help="the venv with vivit_jax installed, relative to --remote-dir "
                            "(empty: `python3 -m vivit_jax.main` from the PATH)")
        s.add_argument("--dry-run", action="store_true")
    s = sub.choices["slurm"]
    s.add_argument("--nodes", type=int, required=True)
    s.add_argument("--gpus-per-node", type=int, default=8,
                   help="GPUs per node, and processes per node (one per GPU)")
    s.add_argument("--cpus-per-task", type=int, default=8, help="CPU cores per process")
    s.add_argument("--time", default="24:00:00")
    s.add_argument("--signal-seconds", type=int, default=120,
                   help="SIGTERM this many seconds before the time limit (time to checkpoint)")
    s.add_argument("--partition", default="")
    s.add_argument("--job-name", default="vivit")
    s.add_argument("--log-dir", default="slurm_logs")
    s.add_argument("--script", default="vivit.sbatch", help="where the batch script is written")
    s = sub.choices["ssh"]
    s.add_argument("--hosts", required=True, help="comma-separated; the first is the coordinator")
    s.add_argument("--port", type=int, default=12355)
    return p


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        rest, overrides = common.split_overrides(sys.argv[1:] if argv is None else argv)
        args = parser().parse_args(rest)
        common.check_config(args.config, overrides)  # This checkout: the nodes' code.
        if args.mode == "ssh":
            cmds = ssh_commands(args, overrides)
            if args.dry_run:
                return common.execute(cmds, dry_run=True)
            return run_ssh(cmds)
        script = slurm_script(args, overrides)
        if args.dry_run:
            print(f"# {args.script}")
            print(script, end="")
            print(f"sbatch {shlex.quote(args.script)}")
            return 0
        common.require("sbatch", "run this on a SLURM login node")
        pathlib.Path(args.script).write_text(script)
        pathlib.Path(args.log_dir).mkdir(parents=True, exist_ok=True)
        return common.execute([common.Step(["sbatch", args.script], "submitting "
                                           f"{args.script}")], dry_run=False)
    return common.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
