"""Run a config on a Cloud TPU VM (single host or pod slice), e.g. v3-32.

  python -m launch.tpu_vm --name vivit-v3 --zone europe-west4-a --accelerator v3-32 \
      --config configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py \
      --workdir gs://my-bucket/vivit/fe_k400 [--config.batch_size=64] [--dry-run]

Steps (each printed with --dry-run, exactly as run): create the TPU VM (skipped with
--reuse), copy this checkout to every worker, install it with TPU jax, run the same
`vivit-train` on every worker (JAX discovers the pod itself: VIVIT_DISTRIBUTED=auto) and
stream the output, delete the VM with --teardown. The workdir should be a gs:// path every
worker can write (Orbax writes checkpoints collectively). SIGTERM from TPU maintenance makes
the trainer checkpoint and exit; run the same command with --reuse to resume.
"""
from __future__ import annotations

import argparse
import sys

from launch import common

TPU_INSTALL = ("pip install -U pip && pip install -e '.[tpu]' "
               "-f https://storage.googleapis.com/jax-releases/libtpu_releases.html")


def build_commands(args: argparse.Namespace, overrides: list[str]) -> list[list[str]]:
    zone = [f"--zone={args.zone}"] + ([f"--project={args.project}"] if args.project else [])
    gcloud = ["gcloud", "compute", "tpus", "tpu-vm"]
    cmds = []
    if not args.reuse:
        create = gcloud + ["create", args.name, *zone, f"--accelerator-type={args.accelerator}",
                           f"--version={args.version}"]
        if args.spot:
            create.append("--spot")
        cmds.append(create)
    remote_dir = args.remote_dir
    cmds.append(gcloud + ["scp", "--recurse", args.source, f"{args.name}:{remote_dir}", *zone,
                          "--worker=all"])
    ssh = gcloud + ["ssh", args.name, *zone, "--worker=all"]
    cmds.append(ssh + [f"--command=cd {remote_dir} && {TPU_INSTALL}"])
    train = common.train_command(args.config, args.workdir, overrides,
                                 env={"VIVIT_DISTRIBUTED": "auto"})
    cmds.append(ssh + [f"--command=cd {remote_dir} && {train} 2>&1 | tee -a train.log"])
    if args.teardown:
        cmds.append(gcloud + ["delete", args.name, *zone, "--quiet"])
    return cmds


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m launch.tpu_vm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, help="TPU VM name")
    p.add_argument("--zone", required=True)
    p.add_argument("--project", default="")
    p.add_argument("--accelerator", default="v3-8", help="v3-8, v3-32, v4-64, v5litepod-16, …")
    p.add_argument("--version", default="tpu-ubuntu2204-base", help="TPU VM software version")
    p.add_argument("--config", required=True)
    p.add_argument("--workdir", required=True, help="gs://bucket/path (shared by all workers)")
    p.add_argument("--source", default=".", help="checkout to copy to the workers")
    p.add_argument("--remote-dir", default="vivit_jax", help="where the code lands on workers")
    p.add_argument("--reuse", action="store_true", help="the VM exists: skip creation")
    p.add_argument("--spot", action="store_true", help="create a Spot (preemptible) VM")
    p.add_argument("--teardown", action="store_true", help="delete the VM after the run")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    rest, overrides = common.split_overrides(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(rest)
    if not args.workdir.startswith("gs://") and "-8" not in args.accelerator:
        print(f"launch: warning: workdir {args.workdir!r} is not on GCS; a pod's workers "
              f"cannot share it", file=sys.stderr)
    return common.execute(build_commands(args, overrides), dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
