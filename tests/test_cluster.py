"""Joining a multi-process run from the environment, and the SIGTERM stop's marker.

The SLURM test plays the 16 tasks of launch/gpu.py's 2 × 8-GPU script through JAX's own
cluster detection (no jax.distributed.initialize): 16 processes, each with its own GPU.
"""
import builtins
import os
import re
import signal

import pytest
from jax._src.clusters import ClusterEnv, SlurmCluster

from tests.test_launch import slurm_2x8_script
from vivit_jax import cluster

NODES = ["gpu001", "gpu002"]
JOB_ID = 4242
PORT = JOB_ID % 4096 + 61440  # JAX's SLURM coordinator port: 61440 + job id mod 4096.


def _sbatch(script: list[str], option: str) -> int:
    return int(next(re.fullmatch(rf"#SBATCH --{option}=(\d+)", line).group(1)
                    for line in script if line.startswith(f"#SBATCH --{option}=")))


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("OMPI_MCA_orte_hnp_uri", "KUBERNETES_SERVICE_HOST", "JAX_COORDINATOR_PORT",
                "VIVIT_COORDINATOR_ADDRESS", "VIVIT_NUM_PROCESSES", "VIVIT_PROCESS_ID",
                "VIVIT_DISTRIBUTED", "CUDA_VISIBLE_DEVICES", cluster.PREEMPTION_MARKER_ENV):
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith("SLURM_")]:
        monkeypatch.delenv(var)
    return monkeypatch


def _slurm_task(monkeypatch, nodes, tasks_per_node, gpus_per_node, node, local, visible=None):
    """The environment SLURM gives task `local` of node `node` (block distribution)."""
    env = {
        "SLURM_JOB_ID": str(JOB_ID), "SLURM_NTASKS": str(len(nodes) * tasks_per_node),
        "SLURM_PROCID": str(node * tasks_per_node + local), "SLURM_LOCALID": str(local),
        "SLURM_NODEID": str(node), "SLURMD_NODENAME": nodes[node],
        "SLURM_STEP_NODELIST": "gpu[001-002]", "SLURM_STEP_NUM_NODES": str(len(nodes)),
        "SLURM_NTASKS_PER_NODE": str(tasks_per_node),
        "CUDA_VISIBLE_DEVICES": visible or ",".join(map(str, range(gpus_per_node))),
        "VIVIT_DISTRIBUTED": "auto"}  # What the script exports.
    for k, v in env.items():
        monkeypatch.setenv(k, v)


def test_slurm_job_uses_all_16_gpus_by_construction(clean_env):
    script = slurm_2x8_script()
    assert "export VIVIT_DISTRIBUTED=auto PYTHONUNBUFFERED=1" in script
    nodes, per_node = _sbatch(script, "nodes"), _sbatch(script, "ntasks-per-node")
    gpus = _sbatch(script, "gpus-per-node")
    assert (nodes, per_node, gpus) == (2, 8, 8)
    used = {}  # (node, physical GPU) -> process id
    for node in range(nodes):
        for local in range(per_node):
            _slurm_task(clean_env, NODES, per_node, gpus, node, local)
            assert SlurmCluster.is_env_present()
            assert SlurmCluster.get_coordinator_address(
                timeout_secs=None, override_coordinator_port=None) == f"gpu001:{PORT}"
            assert SlurmCluster.get_process_count() == 16
            assert SlurmCluster.get_process_id() == node * 8 + local
            assert SlurmCluster.get_local_process_id() == local
            kwargs = cluster.distributed_args(os.environ)
            assert kwargs == {}  # jax.distributed.initialize() detects everything itself.
            addr, count, pid, device_ids = ClusterEnv.auto_detect_unset_distributed_params(
                coordinator_address=None, num_processes=None, process_id=None,
                local_device_ids=None, cluster_detection_method=None,
                initialization_timeout=None)
            assert (addr, count, pid, device_ids) == (f"gpu001:{PORT}", 16, node * 8 + local,
                                                      [local])
            gpu = os.environ["CUDA_VISIBLE_DEVICES"].split(",")[device_ids[0]]
            assert (node, gpu) not in used
            used[(node, gpu)] = pid
    assert sorted(used.values()) == list(range(16))
    assert set(used) == {(n, str(g)) for n in range(2) for g in range(8)}


def test_slurm_task_bound_to_one_gpu_uses_device_0(clean_env):
    """With --gpus-per-task=1 / --gpu-bind a task sees one GPU: JAX's default
    local_device_ids=[SLURM_LOCALID] would name a device it does not have."""
    _slurm_task(clean_env, NODES, 8, 8, node=1, local=5, visible="5")
    kwargs = cluster.distributed_args(os.environ)
    assert kwargs == {"local_device_ids": [0]}
    detected = ClusterEnv.auto_detect_unset_distributed_params(
        coordinator_address=None, num_processes=None, process_id=None,
        local_device_ids=kwargs["local_device_ids"], cluster_detection_method=None,
        initialization_timeout=None)
    assert detected == (f"gpu001:{PORT}", 16, 13, [0])


def test_explicit_and_missing_distributed_env(clean_env):
    assert cluster.distributed_args(os.environ) is None
    clean_env.setenv("VIVIT_COORDINATOR_ADDRESS", "node1:12355")
    with pytest.raises(ValueError, match="^VIVIT_COORDINATOR_ADDRESS=node1:12355 is set but "
                                         "VIVIT_NUM_PROCESSES and VIVIT_PROCESS_ID not: set "
                                         "all three$"):
        cluster.distributed_args(os.environ)
    clean_env.setenv("VIVIT_NUM_PROCESSES", "2")
    clean_env.setenv("VIVIT_PROCESS_ID", "one")
    with pytest.raises(ValueError, match="must be integers"):
        cluster.distributed_args(os.environ)
    clean_env.setenv("VIVIT_PROCESS_ID", "1")
    assert cluster.distributed_args(os.environ) == {
        "coordinator_address": "node1:12355", "num_processes": 2, "process_id": 1}


def test_sigterm_stop_writes_the_preemption_marker(clean_env, tmp_path):
    marker = tmp_path / "4242.preempted"
    clean_env.setenv(cluster.PREEMPTION_MARKER_ENV, str(marker))
    watcher = cluster.PreemptionWatcher()
    try:
        assert not watcher.should_stop() and not marker.exists()
        signal.raise_signal(signal.SIGTERM)
        assert watcher.should_stop() and watcher.stopped
        assert marker.read_text() == ("stopped by SIGTERM before the last step; resume from "
                                      "the workdir\n")
    finally:
        watcher.restore()


def test_sigterm_stop_without_marker_env_writes_nothing(clean_env, tmp_path, capsys):
    # Run from an empty directory, with every file the watcher opens recorded: without the
    # variable it must open none (a default marker name would land here, or be recorded).
    clean_env.chdir(tmp_path)
    opened = []
    real_open = builtins.open
    clean_env.setattr(builtins, "open", lambda f, *a, **k: opened.append(f) or real_open(
        f, *a, **k))
    watcher = cluster.PreemptionWatcher()
    try:
        signal.raise_signal(signal.SIGTERM)
        assert watcher.should_stop() and watcher.stopped
    finally:
        watcher.restore()
    assert opened == [] and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().out == ""  # Not even a warning about a marker.
