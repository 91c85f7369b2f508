"""Run a config on several GPU nodes: a SLURM batch script, or plain SSH hosts.

SLURM (one task per node; JAX reads the SLURM environment itself):

  python -m launch.gpu slurm --nodes 2 --gpus-per-node 8 --time 24:00:00 \
      --config configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py --workdir /shared/runs/fe \
      [--partition gpu] [--config.batch_size=64] [--dry-run]

  writes (or, with --dry-run, prints) the sbatch script and submits it with `sbatch`.
  `#SBATCH --signal=TERM@120` asks SLURM for SIGTERM two minutes before the time limit:
  the trainer checkpoints and exits 0, and `--requeue` lets the job resume from there.

SSH hosts (no scheduler; every host has the code installed at --remote-dir):

  python -m launch.gpu ssh --hosts node1,node2 --port 12355 --config … --workdir … [--dry-run]

  starts one process per host with VIVIT_COORDINATOR_ADDRESS=node1:12355,
  VIVIT_NUM_PROCESSES and VIVIT_PROCESS_ID set (process 0 on the first host).
"""
from __future__ import annotations

import argparse
import pathlib
import shlex
import subprocess
import sys

from launch import common


def slurm_script(args: argparse.Namespace, overrides: list[str]) -> str:
    lines = ["#!/bin/bash",
             f"#SBATCH --job-name={args.job_name}",
             f"#SBATCH --nodes={args.nodes}",
             "#SBATCH --ntasks-per-node=1",
             f"#SBATCH --gpus-per-node={args.gpus_per_node}",
             f"#SBATCH --cpus-per-task={args.cpus_per_task}",
             f"#SBATCH --time={args.time}",
             "#SBATCH --signal=TERM@120",
             "#SBATCH --requeue",
             f"#SBATCH --output={args.log_dir}/%x-%j.out"]
    if args.partition:
        lines.append(f"#SBATCH --partition={args.partition}")
    train = common.train_command(args.config, args.workdir, overrides,
                                 env={"VIVIT_DISTRIBUTED": "auto"})
    lines += ["set -euo pipefail",
              f"cd {shlex.quote(args.remote_dir)}",
              f"srun --kill-on-bad-exit=1 bash -c {shlex.quote(train)}"]
    return "\n".join(lines) + "\n"


def ssh_commands(args: argparse.Namespace, overrides: list[str]) -> list[list[str]]:
    hosts = [h for h in args.hosts.split(",") if h]
    if not hosts:
        raise SystemExit("launch: --hosts needs at least one host name")
    cmds = []
    for i, host in enumerate(hosts):
        env = {"VIVIT_COORDINATOR_ADDRESS": f"{hosts[0]}:{args.port}",
               "VIVIT_NUM_PROCESSES": str(len(hosts)), "VIVIT_PROCESS_ID": str(i)}
        train = common.train_command(args.config, args.workdir, overrides, env=env)
        cmds.append(["ssh", host, f"cd {shlex.quote(args.remote_dir)} && {train}"])
    return cmds


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m launch.gpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    for name in ("slurm", "ssh"):
        s = sub.add_parser(name)
        s.add_argument("--config", required=True)
        s.add_argument("--workdir", required=True, help="a directory every node can write")
        s.add_argument("--remote-dir", default=".", help="the code's path on the nodes")
        s.add_argument("--dry-run", action="store_true")
    s = sub.choices["slurm"]
    s.add_argument("--nodes", type=int, required=True)
    s.add_argument("--gpus-per-node", type=int, default=8)
    s.add_argument("--cpus-per-task", type=int, default=32)
    s.add_argument("--time", default="24:00:00")
    s.add_argument("--partition", default="")
    s.add_argument("--job-name", default="vivit")
    s.add_argument("--log-dir", default="slurm_logs")
    s.add_argument("--script", default="vivit.sbatch", help="where the batch script is written")
    s = sub.choices["ssh"]
    s.add_argument("--hosts", required=True, help="comma-separated; the first is the coordinator")
    s.add_argument("--port", type=int, default=12355)
    return p


def main(argv: list[str] | None = None) -> int:
    rest, overrides = common.split_overrides(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(rest)
    if args.mode == "ssh":
        cmds = ssh_commands(args, overrides)
        if args.dry_run:
            return common.execute(cmds, dry_run=True)
        procs = [subprocess.Popen(c) for c in cmds]  # All hosts at once; wait for all.
        return max(p.wait() for p in procs)
    script = slurm_script(args, overrides)
    if args.dry_run:
        print(f"# {args.script}")
        print(script, end="")
        print(f"sbatch {args.script}")
        return 0
    pathlib.Path(args.script).write_text(script)
    pathlib.Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    return common.execute([["sbatch", args.script]], dry_run=False)


if __name__ == "__main__":
    sys.exit(main())
