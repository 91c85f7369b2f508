"""Launcher dry runs print exactly the commands a v3-32 pod and two GPU nodes need."""
import contextlib
import io

from launch import gpu, tpu_vm

CFG = "configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py"


def _dry(main, argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue().splitlines()


def test_tpu_v3_32_pod_dry_run():
    lines = _dry(tpu_vm.main, [
        "--name", "vivit-v3", "--zone", "europe-west4-a", "--accelerator", "v3-32",
        "--config", CFG, "--workdir", "gs://bkt/fe", "--config.batch_size=64", "--spot",
        "--teardown", "--dry-run"])
    z = "--zone=europe-west4-a"
    assert lines == [
        f"gcloud compute tpus tpu-vm create vivit-v3 {z} --accelerator-type=v3-32 "
        "--version=tpu-ubuntu2204-base --spot",
        f"gcloud compute tpus tpu-vm scp --recurse . vivit-v3:vivit_jax {z} --worker=all",
        f"gcloud compute tpus tpu-vm ssh vivit-v3 {z} --worker=all '--command=cd vivit_jax && "
        "pip install -U pip && pip install -e '\"'\"'.[tpu]'\"'\"' "
        "-f https://storage.googleapis.com/jax-releases/libtpu_releases.html'",
        f"gcloud compute tpus tpu-vm ssh vivit-v3 {z} --worker=all '--command=cd vivit_jax && "
        f"VIVIT_DISTRIBUTED=auto vivit-train --config {CFG} --workdir gs://bkt/fe "
        "--config.batch_size=64 2>&1 | tee -a train.log'",
        f"gcloud compute tpus tpu-vm delete vivit-v3 {z} --quiet",
    ]


def test_tpu_reuse_skips_create():
    lines = _dry(tpu_vm.main, ["--name", "v", "--zone", "z", "--config", CFG,
                               "--workdir", "gs://b/r", "--reuse", "--dry-run"])
    assert not any(" create " in line for line in lines) and len(lines) == 3


def test_gpu_two_nodes_slurm_dry_run():
    lines = _dry(gpu.main, ["slurm", "--nodes", "2", "--gpus-per-node", "8",
                            "--partition", "a100", "--time", "12:00:00", "--config", CFG,
                            "--workdir", "/shared/runs/fe", "--remote-dir", "/shared/vivit_jax",
                            "--dry-run", "--config.optim.lr=1e-4"])
    assert lines == [
        "# vivit.sbatch",
        "#!/bin/bash",
        "#SBATCH --job-name=vivit",
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --cpus-per-task=32",
        "#SBATCH --time=12:00:00",
        "#SBATCH --signal=TERM@120",
        "#SBATCH --requeue",
        "#SBATCH --output=slurm_logs/%x-%j.out",
        "#SBATCH --partition=a100",
        "set -euo pipefail",
        "cd /shared/vivit_jax",
        "srun --kill-on-bad-exit=1 bash -c 'VIVIT_DISTRIBUTED=auto vivit-train --config "
        f"{CFG} --workdir /shared/runs/fe --config.optim.lr=1e-4'",
        "sbatch vivit.sbatch",
    ]


def test_gpu_two_nodes_ssh_dry_run():
    lines = _dry(gpu.main, ["ssh", "--hosts", "gpu1,gpu2", "--port", "1234", "--config", CFG,
                            "--workdir", "/nfs/run", "--remote-dir", "/opt/vivit", "--dry-run"])
    assert lines == [
        f"ssh gpu{i + 1} 'cd /opt/vivit && VIVIT_COORDINATOR_ADDRESS=gpu1:1234 "
        f"VIVIT_NUM_PROCESSES=2 VIVIT_PROCESS_ID={i} vivit-train --config {CFG} "
        "--workdir /nfs/run'" for i in range(2)]
