"""Run a config on a Cloud TPU VM: one host or a pod slice (v3-32, v4-32, v5litepod-16, …).

  python -m launch.tpu_vm --name vivit-v3 --zone europe-west4-a --accelerator v3-32 \\
      --config configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py \\
      --workdir gs://my-bucket/vivit/fe_k400 [--config.batch_size=64] [--spot] [--dry-run]

Steps (each printed with --dry-run exactly as run, copy-pasteable into bash):
  1. create the TPU VM (`tpu-vm create`; with --queued a queued resource, then wait until
     it is ACTIVE), with the TPU software version of the generation (v2/v3/v4:
     tpu-ubuntu2204-base, v5litepod: v2-alpha-tpuv5-lite, v5p: v2-alpha-tpuv5,
     v6e: v2-alpha-tpuv6e; --version overrides);
  2. pack this checkout (without .git, .venv, caches, workdirs) and copy it to every worker
     (`scp --worker=all`);
  3. on every worker: unpack into --remote-dir, get uv (https://docs.astral.sh/uv) into
     ~/.local/bin, make a Python 3.11 venv at --venv (the images ship Python 3.10; jax needs
     3.11+) and install `.[tpu]` into it; every command is idempotent, so rerunning is safe;
  4. run the same trainer on every worker (JAX discovers the pod: VIVIT_DISTRIBUTED=auto),
     each output line prefixed with the worker's hostname, all appended to --log here;
  5. with --teardown, delete the TPU (or the queued resource) after a successful run.

The workdir must be a gs:// path every worker can write (Orbax writes checkpoints
collectively). SIGTERM (maintenance events) makes the trainer checkpoint and exit; run the
same command with --reuse to resume from the workdir's last checkpoint.

Spot TPUs: a preempted Spot TPU cannot be restarted; it must be deleted and created again.
--recreate does that: it deletes the TPU (or queued resource) if it was PREEMPTED (SUSPENDED
or FAILED for a queued resource), creates it if it does not exist, keeps it if it does, then
reruns setup and training, which resumes from the workdir's last checkpoint.
"""
from __future__ import annotations

import argparse
import re
import shlex
import sys

from launch import common
from launch.common import LaunchError, Step

# TPU software version per generation: https://cloud.google.com/tpu/docs/runtimes
RUNTIME_VERSIONS = {
    "v2": "tpu-ubuntu2204-base",
    "v3": "tpu-ubuntu2204-base",
    "v4": "tpu-ubuntu2204-base",
    "v5litepod": "v2-alpha-tpuv5-lite",  # v5e
    "v5p": "v2-alpha-tpuv5",
    "v6e": "v2-alpha-tpuv6e",  # Trillium
}
PYTHON = "3.11"  # jax >= 0.9 needs Python >= 3.11; the TPU VM images ship 3.10.
UV = "~/.local/bin/uv"
UV_INSTALL = ("curl -LsSf https://astral.sh/uv/install.sh"
              " | env UV_UNMANAGED_INSTALL=$HOME/.local/bin sh")
EXCLUDES = (".git", ".venv", ".*_cache", "__pycache__", "*.egg-info", "workdirs")


def generation(accelerator: str) -> tuple[str, int] | None:
    """('v5litepod', 16) for 'v5litepod-16'; None for a type this launcher does not know."""
    m = re.fullmatch(r"(v\d+[a-z]*)-(\d+)", accelerator)
    if not m or m.group(1) not in RUNTIME_VERSIONS:
        return None
    return m.group(1), int(m.group(2))


def runtime_version(args: argparse.Namespace) -> str:
    if args.version:
        return args.version
    gen = generation(args.accelerator)
    if gen is None:
        raise LaunchError(
            f"--accelerator {args.accelerator!r}: unknown TPU type; use e.g. v3-32, v4-32, "
            f"v5litepod-16, v5p-8 or v6e-8, or give its software version with --version")
    return RUNTIME_VERSIONS[gen[0]]


def _remote(path: str, flag: str) -> str:
    """A path on the workers as their shell sees it: relative ones are under ~."""
    path = common.plain_path(path, flag).rstrip("/")
    return path if path.startswith(("/", "~")) else f"~/{path}"


def build_steps(args: argparse.Namespace, overrides: list[str]) -> list[Step]:
    name = args.name
    if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name):
        raise LaunchError(f"--name {name!r}: a TPU name is lowercase letters, digits and "
                          f"hyphens, starting with a letter")
    loc = [f"--zone={args.zone}"] + ([f"--project={args.project}"] if args.project else [])
    vm = ["gcloud", "compute", "tpus", "tpu-vm"]
    qr = ["gcloud", "compute", "tpus", "queued-resources"]
    version = runtime_version(args)
    spot = ["--spot"] if args.spot else []
    if args.queued:
        kind, state_field, ready = f"queued resource {name}", "state.state", "ACTIVE"
        describe = qr + ["describe", name, *loc, f"--format=value({state_field})"]
        create = qr + ["create", name, *loc, f"--node-id={name}",
                       f"--accelerator-type={args.accelerator}",
                       f"--runtime-version={version}", *spot]
        delete = qr + ["delete", name, *loc, "--force", "--quiet"]
        dead = "SUSPENDING|SUSPENDED|FAILED"
    else:
        kind, state_field, ready = f"TPU {name}", "state", "READY"
        describe = vm + ["describe", name, *loc, f"--format=value({state_field})"]
        create = vm + ["create", name, *loc, f"--accelerator-type={args.accelerator}",
                       f"--version={version}", *spot]
        delete = vm + ["delete", name, *loc, "--quiet"]
        dead = "PREEMPTED"
    describe_line = shlex.join(describe)
    steps: list[Step] = []
    if args.reuse:
        steps.append(Step(
            f'test "$({describe_line})" = {ready}', f"checking that {kind} is {ready}",
            f"{kind} is not {ready} (see `{describe_line}`); a preempted Spot TPU cannot be "
            f"restarted: rerun with --recreate instead of --reuse"))
    elif args.recreate:
        steps.append(Step(
            f'case "$({describe_line} 2>/dev/null)" in {dead}) {shlex.join(delete)};; esac',
            f"deleting the preempted {kind}"))
        steps.append(Step(f"{describe_line} >/dev/null 2>&1 || {shlex.join(create)}",
                          f"creating {kind}"))
    else:
        steps.append(Step(create, f"creating {kind}",
                          "if it exists already, rerun with --reuse (or --recreate if it "
                          "was preempted)"))
    if args.queued and not args.reuse:
        steps.append(Step(
            f"while s=$({describe_line}); echo \"{kind}: $s\"; [ \"$s\" != {ready} ]; "
            f"do case $s in {dead}) break;; esac; sleep 30; done; [ \"$s\" = {ready} ]",
            f"waiting for {kind} to become {ready}",
            f"{kind} did not become {ready} (its state is printed above): rerun with "
            f"--recreate to delete and request it again"))

    # Code: one archive, the same on every worker.
    remote_dir, venv = _remote(args.remote_dir, "--remote-dir"), _remote(args.venv, "--venv")
    archive = f"/tmp/{name}-src.tar.gz"
    remote_archive = f"{name}-src.tar.gz"  # In the workers' home directory.
    steps.append(Step(["tar", "-czf", archive, *(f"--exclude={e}" for e in EXCLUDES),
                       "-C", args.source, "."], f"packing {args.source}"))
    ssh = vm + ["ssh", name, *loc, "--worker=all"]
    steps.append(Step(vm + ["scp", archive, f"{name}:{remote_archive}", *loc, "--worker=all"],
                      f"copying the code to the workers of {name}"))
    python = f"{venv}/bin/python"
    setup = " && ".join([
        f"mkdir -p {remote_dir}",
        f"tar -xzf ~/{remote_archive} -C {remote_dir}",
        f"cd {remote_dir}",
        f"(test -x {UV} || {UV_INSTALL})",
        f"(test -x {python} || {UV} venv --python {PYTHON} {venv})",
        f"{UV} pip install --python {python} -e '.[tpu]'",
    ])
    steps.append(Step(ssh + [f"--command={setup}"], f"setup on the workers of {name}"))
    train = common.train_command(args.config, args.workdir, overrides,
                                 env={"VIVIT_DISTRIBUTED": "auto", "PYTHONUNBUFFERED": "1"},
                                 program=f"{venv}/bin/vivit-train")
    remote_train = (f"set -o pipefail; cd {remote_dir} && {train} 2>&1 "
                    f"| sed -u \"s/^/[$(hostname)] /\"")
    steps.append(Step(
        f"{shlex.join(ssh + [f'--command={remote_train}'])} 2>&1 | tee -a {shlex.quote(args.log)}",
        f"training on {name}",
        f"see {args.log}; if {kind} was preempted (`{describe_line}`), rerun this command "
        f"with --recreate: training resumes from the last checkpoint in {args.workdir}"))
    if args.teardown:
        steps.append(Step(delete, f"deleting {kind}"))
    return steps


def parser() -> argparse.ArgumentParser:
    p = common.ArgumentParser(prog="python -m launch.tpu_vm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, help="TPU VM name (and queued resource ID)")
    p.add_argument("--zone", required=True)
    p.add_argument("--project", default="")
    p.add_argument("--accelerator", default="v3-8",
                   help="v3-8, v3-32, v4-32, v5litepod-16, v5p-8, v6e-8, …")
    p.add_argument("--version", default="",
                   help="TPU software version (default: the one for the accelerator's "
                        "generation, https://cloud.google.com/tpu/docs/runtimes)")
    p.add_argument("--config", required=True)
    p.add_argument("--workdir", required=True, help="gs://bucket/path (shared by all workers)")
    p.add_argument("--source", default=".", help="checkout to copy to the workers")
    p.add_argument("--remote-dir", default="vivit_jax",
                   help="where the code lands on the workers (relative: under ~)")
    p.add_argument("--venv", default="vivit-venv",
                   help="the Python 3.11 venv on the workers (relative: under ~)")
    p.add_argument("--log", default="", help="local log of all workers' output "
                                             "(default: NAME.log)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--reuse", action="store_true",
                      help="the TPU exists and is READY: skip creation")
    mode.add_argument("--recreate", action="store_true",
                      help="delete the TPU if it was preempted (a Spot TPU cannot be "
                           "restarted), create it if missing, then set up and resume training")
    p.add_argument("--spot", action="store_true", help="create a Spot (preemptible) TPU")
    p.add_argument("--queued", action="store_true",
                   help="request the TPU as a queued resource (waits for capacity)")
    p.add_argument("--teardown", action="store_true", help="delete the TPU after the run")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        rest, overrides = common.split_overrides(sys.argv[1:] if argv is None else argv)
        args = parser().parse_args(rest)
        args.log = args.log or f"{args.name}.log"
        common.check_config(args.config, overrides, args.source)  # The code the workers get.
        gen = generation(args.accelerator)
        if gen and gen[1] > 8 and not args.workdir.startswith("gs://"):
            print(f"launch: warning: workdir {args.workdir!r} is not on GCS; the workers of "
                  f"a {args.accelerator} pod cannot share it", file=sys.stderr)
        steps = build_steps(args, overrides)
        if not args.dry_run:
            common.require("gcloud", "install the Google Cloud CLI "
                                     "(https://cloud.google.com/sdk/docs/install)")
        return common.execute(steps, dry_run=args.dry_run)
    return common.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
