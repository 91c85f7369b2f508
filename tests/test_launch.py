"""Launcher dry runs print exactly the commands a TPU pod slice (v3-32, v4-32, v5litepod-16)
and two 8-GPU SLURM nodes need; the SLURM script requeues exactly when the trainer stopped
on SIGTERM."""
import contextlib
import io
import os
import pathlib
import shlex
import stat
import subprocess

import pytest

from launch import common, gpu, tpu_vm

CFG = "configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py"
UV = "~/.local/bin/uv"


def _dry(main, argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue().splitlines()


def _code_steps(name, loc):
    """The pack / copy / set-up lines every TPU launch shares (worker home: vivit_jax,
    Python 3.11 venv vivit-venv made by uv)."""
    setup = (f"mkdir -p ~/vivit_jax && tar -xzf ~/{name}-src.tar.gz -C ~/vivit_jax && "
             f"cd ~/vivit_jax && (test -x {UV} || curl -LsSf https://astral.sh/uv/install.sh "
             f"| env UV_UNMANAGED_INSTALL=$HOME/.local/bin sh) && (test -x "
             f"~/vivit-venv/bin/python || {UV} venv --python 3.11 ~/vivit-venv) && "
             f"{UV} pip install --python ~/vivit-venv/bin/python -e '.[tpu]'")
    return [
        f"tar -czf /tmp/{name}-src.tar.gz --exclude=.git --exclude=.venv '--exclude=.*_cache' "
        "--exclude=__pycache__ '--exclude=*.egg-info' --exclude=workdirs -C . .",
        f"gcloud compute tpus tpu-vm scp /tmp/{name}-src.tar.gz {name}:{name}-src.tar.gz "
        f"{loc} --worker=all",
        f"gcloud compute tpus tpu-vm ssh {name} {loc} --worker=all "
        + shlex.quote(f"--command={setup}"),
    ], setup


def _train_line(name, loc, workdir, overrides=""):
    remote = (f"set -o pipefail; cd ~/vivit_jax && VIVIT_DISTRIBUTED=auto PYTHONUNBUFFERED=1 "
              f"~/vivit-venv/bin/vivit-train --config {CFG} --workdir {workdir}{overrides} "
              "2>&1 | sed -u \"s/^/[$(hostname)] /\"")
    return (f"gcloud compute tpus tpu-vm ssh {name} {loc} --worker=all "
            + shlex.quote(f"--command={remote}") + f" 2>&1 | tee -a {name}.log")


def test_tpu_v3_32_spot_pod_dry_run():
    lines = _dry(tpu_vm.main, [
        "--name", "vivit-v3", "--zone", "europe-west4-a", "--accelerator", "v3-32",
        "--config", CFG, "--workdir", "gs://bkt/fe", "--config.batch_size=64", "--spot",
        "--teardown", "--dry-run"])
    z = "--zone=europe-west4-a"
    code, setup = _code_steps("vivit-v3", z)
    assert lines == [
        f"gcloud compute tpus tpu-vm create vivit-v3 {z} --accelerator-type=v3-32 "
        "--version=tpu-ubuntu2204-base --spot",
        *code,
        _train_line("vivit-v3", z, "gs://bkt/fe", " --config.batch_size=64"),
        f"gcloud compute tpus tpu-vm delete vivit-v3 {z} --quiet",
    ]
    # Spelled out once: the quoted line above is this command on every worker.
    assert lines[3] == (
        "gcloud compute tpus tpu-vm ssh vivit-v3 --zone=europe-west4-a --worker=all "
        "'--command=mkdir -p ~/vivit_jax && tar -xzf ~/vivit-v3-src.tar.gz -C ~/vivit_jax && "
        "cd ~/vivit_jax && (test -x ~/.local/bin/uv || curl -LsSf "
        "https://astral.sh/uv/install.sh | env UV_UNMANAGED_INSTALL=$HOME/.local/bin sh) && "
        "(test -x ~/vivit-venv/bin/python || ~/.local/bin/uv venv --python 3.11 ~/vivit-venv) "
        "&& ~/.local/bin/uv pip install --python ~/vivit-venv/bin/python -e "
        "'\"'\"'.[tpu]'\"'\"''")
    assert shlex.split(lines[3])[-1] == f"--command={setup}"


def test_tpu_v4_32_recreate_after_spot_preemption_dry_run():
    lines = _dry(tpu_vm.main, [
        "--name", "vivit-v4", "--zone", "us-central2-b", "--accelerator", "v4-32",
        "--config", CFG, "--workdir", "gs://bkt/v4", "--spot", "--recreate", "--dry-run"])
    z = "--zone=us-central2-b"
    describe = f"gcloud compute tpus tpu-vm describe vivit-v4 {z} '--format=value(state)'"
    code, _ = _code_steps("vivit-v4", z)
    assert lines == [
        f'case "$({describe} 2>/dev/null)" in PREEMPTED) '
        f"gcloud compute tpus tpu-vm delete vivit-v4 {z} --quiet;; esac",
        f"{describe} >/dev/null 2>&1 || gcloud compute tpus tpu-vm create vivit-v4 {z} "
        "--accelerator-type=v4-32 --version=tpu-ubuntu2204-base --spot",
        *code,
        _train_line("vivit-v4", z, "gs://bkt/v4"),
    ]


def test_tpu_v5litepod_16_queued_spot_dry_run():
    lines = _dry(tpu_vm.main, [
        "--name", "vivit-v5e", "--zone", "us-west4-a", "--project", "proj",
        "--accelerator", "v5litepod-16", "--config", CFG, "--workdir", "gs://bkt/v5e",
        "--spot", "--queued", "--teardown", "--dry-run"])
    z = "--zone=us-west4-a --project=proj"
    qr = "gcloud compute tpus queued-resources"
    code, _ = _code_steps("vivit-v5e", z)
    assert lines == [
        f"{qr} create vivit-v5e {z} --node-id=vivit-v5e --accelerator-type=v5litepod-16 "
        "--runtime-version=v2-alpha-tpuv5-lite --spot",
        f"while s=$({qr} describe vivit-v5e {z} '--format=value(state.state)'); "
        'echo "queued resource vivit-v5e: $s"; [ "$s" != ACTIVE ]; do case $s in '
        'SUSPENDING|SUSPENDED|FAILED) break;; esac; sleep 30; done; [ "$s" = ACTIVE ]',
        *code,
        _train_line("vivit-v5e", z, "gs://bkt/v5e"),
        f"{qr} delete vivit-v5e {z} --force --quiet",
    ]


@pytest.mark.parametrize("accelerator,version", [
    ("v2-8", "tpu-ubuntu2204-base"), ("v5p-16", "v2-alpha-tpuv5"),
    ("v6e-8", "v2-alpha-tpuv6e")])
def test_tpu_runtime_version_per_generation(accelerator, version):
    lines = _dry(tpu_vm.main, ["--name", "t", "--zone", "z", "--accelerator", accelerator,
                               "--config", CFG, "--workdir", "gs://b/r", "--dry-run"])
    assert lines[0].endswith(f"--accelerator-type={accelerator} --version={version}")
    lines = _dry(tpu_vm.main, ["--name", "t", "--zone", "z", "--accelerator", accelerator,
                               "--version", "my-image", "--config", CFG,
                               "--workdir", "gs://b/r", "--dry-run"])
    assert lines[0].endswith("--version=my-image")


def test_tpu_reuse_checks_ready_instead_of_creating():
    lines = _dry(tpu_vm.main, ["--name", "v", "--zone", "z", "--config", CFG,
                               "--workdir", "gs://b/r", "--reuse", "--dry-run"])
    assert lines[0] == ('test "$(gcloud compute tpus tpu-vm describe v --zone=z '
                        "'--format=value(state)')\" = READY")
    assert not any(" create " in line for line in lines) and len(lines) == 5


def test_tpu_unknown_accelerator_is_one_line(capsys):
    assert tpu_vm.main(["--name", "v", "--zone", "z", "--accelerator", "v9-8", "--config",
                        CFG, "--workdir", "gs://b/r", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err == ("launch: error: --accelerator 'v9-8': unknown TPU type; use e.g. v3-32, "
                   "v4-32, v5litepod-16, v5p-8 or v6e-8, or give its software version with "
                   "--version\n")


def test_tpu_usage_error_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        tpu_vm.main(["--name", "v", "--zone", "z", "--config", CFG, "--workdir", "gs://b/r",
                     "--reuse", "--recreate"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "launch: error: argument --recreate: not allowed with argument --reuse "
        "(see python -m launch.tpu_vm --help)\n")


def test_failed_step_is_one_line(capsys):
    rc = common.execute([common.Step("exit 3", "training on vivit-v3", "rerun with "
                                     "--recreate")], dry_run=False)
    assert rc == 3
    assert capsys.readouterr().err == ("launch: error: training on vivit-v3 failed (exit "
                                       "code 3): rerun with --recreate\n")


SLURM_SCRIPT = [
    "#!/bin/bash",
    "#SBATCH --job-name=vivit",
    "#SBATCH --nodes=2",
    "#SBATCH --ntasks-per-node=8",
    "#SBATCH --gpus-per-node=8",
    "#SBATCH --cpus-per-task=8",
    "#SBATCH --time=12:00:00",
    "#SBATCH --signal=TERM@120",
    "#SBATCH --requeue",
    "#SBATCH --open-mode=append",
    "#SBATCH --output=slurm_logs/%x-%j.out",
    "#SBATCH --partition=a100",
    "# 16 processes, one per GPU: JAX reads SLURM_NTASKS, SLURM_PROCID, SLURM_LOCALID",
    "# (the GPU of the node it uses) and the first node of SLURM_STEP_NODELIST.",
    "# SIGTERM (--signal, no B:) goes to the trainers: they checkpoint, write the marker",
    "# and exit 0; this script then requeues the job, which resumes from the checkpoint.",
    "set -euo pipefail",
    "cd /shared/vivit_jax",
    "export VIVIT_DISTRIBUTED=auto PYTHONUNBUFFERED=1",
    'export VIVIT_PREEMPTION_MARKER="$SLURM_SUBMIT_DIR/slurm_logs/$SLURM_JOB_ID.preempted"',
    'rm -f "$VIVIT_PREEMPTION_MARKER"',
    "srun --kill-on-bad-exit=1 --cpus-per-task=8 .venv/bin/vivit-train --config "
    f"{CFG} --workdir /shared/runs/fe --config.optim.lr=1e-4",
    'if [ -e "$VIVIT_PREEMPTION_MARKER" ]; then',
    '  rm -f "$VIVIT_PREEMPTION_MARKER"',
    '  echo "stopped by SIGTERM before the last step: requeueing job $SLURM_JOB_ID"',
    '  scontrol requeue "$SLURM_JOB_ID"',
    "fi",
]


def slurm_2x8_script(remote_dir="/shared/vivit_jax") -> list[str]:
    return _dry(gpu.main, ["slurm", "--nodes", "2", "--gpus-per-node", "8",
                           "--partition", "a100", "--time", "12:00:00", "--config", CFG,
                           "--workdir", "/shared/runs/fe", "--remote-dir", remote_dir,
                           "--dry-run", "--config.optim.lr=1e-4"])


def test_gpu_two_nodes_slurm_dry_run():
    assert slurm_2x8_script() == ["# vivit.sbatch", *SLURM_SCRIPT, "sbatch vivit.sbatch"]


def _fake(bin_dir: pathlib.Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("trainer,rc,requeued", [
    ('touch "$VIVIT_PREEMPTION_MARKER"; exit 0', 0, True),  # Stopped by SIGTERM: requeue.
    ("exit 0", 0, False),                                    # Finished: done.
    ('touch "$VIVIT_PREEMPTION_MARKER"; exit 1', 1, False),  # Failed: no requeue loop.
])
def test_slurm_script_requeues_only_after_a_sigterm_stop(tmp_path, trainer, rc, requeued):
    """Runs the generated script with fake `srun` (the 16 trainers) and `scontrol`."""
    bin_dir, submit, code = tmp_path / "bin", tmp_path / "submit", tmp_path / "code"
    for d in (bin_dir, submit / "slurm_logs", code):
        d.mkdir(parents=True)
    _fake(bin_dir, "srun", f'echo "srun $*" >> {tmp_path}/calls; {trainer}')
    _fake(bin_dir, "scontrol", f'echo "scontrol $*" >> {tmp_path}/calls')
    script = tmp_path / "vivit.sbatch"
    script.write_text("\n".join(slurm_2x8_script(str(code))[1:-1]) + "\n")
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SLURM_JOB_ID="4242",
               SLURM_SUBMIT_DIR=str(submit))
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == rc, proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0].startswith("srun --kill-on-bad-exit=1 --cpus-per-task=8 "
                               ".venv/bin/vivit-train --config ")
    assert calls[1:] == (["scontrol requeue 4242"] if requeued else [])
    if rc == 0:
        assert not (submit / "slurm_logs" / "4242.preempted").exists()


def test_gpu_two_nodes_ssh_dry_run():
    lines = _dry(gpu.main, ["ssh", "--hosts", "gpu1,gpu2", "--port", "1234", "--config", CFG,
                            "--workdir", "/nfs/run", "--remote-dir", "/opt/vivit", "--dry-run"])
    assert lines == [
        f"ssh gpu{i + 1} 'cd /opt/vivit && VIVIT_COORDINATOR_ADDRESS=gpu1:1234 "
        f"VIVIT_NUM_PROCESSES=2 VIVIT_PROCESS_ID={i} PYTHONUNBUFFERED=1 "
        f".venv/bin/vivit-train --config {CFG} --workdir /nfs/run'" for i in range(2)]


def test_gpu_ssh_prefixes_output_and_stops_all_when_one_fails(tmp_path, monkeypatch, capsys):
    # gpu1 runs on (as a trainer waiting in a collective would) until it is terminated; gpu2,
    # started after it, fails: gpu1 must be stopped, not waited for.
    stopped = tmp_path / "gpu1_stopped"
    _fake(tmp_path, "ssh", 'echo "started $2"; if [ "$1" = gpu2 ]; then sleep 0.5; echo boom; '
                           f"exit 3; fi; trap 'touch {stopped}; kill $!; exit 143' TERM; "
                           "sleep 60 & wait")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    rc = gpu.main(["ssh", "--hosts", "gpu1,gpu2", "--config", CFG, "--workdir", "/nfs/run"])
    out, err = capsys.readouterr()
    assert rc == 3 and stopped.exists()
    assert "[gpu2] boom" in out.splitlines()
    # The default --remote-dir is this checkout's path (a remote shell starts in its home).
    assert f"[gpu1] started cd {os.getcwd()} && VIVIT_COORDINATOR_ADDRESS=gpu1:12355 " in out
    assert err == ("launch: error: the trainer on gpu2 failed (exit code 3); stopped the "
                   "other hosts\n")


def test_gpu_bad_log_dir_is_one_line(capsys):
    assert gpu.main(["slurm", "--nodes", "1", "--config", CFG, "--workdir", "/w",
                     "--log-dir", "my logs", "--dry-run"]) == 2
    assert capsys.readouterr().err == (
        "launch: error: --log-dir 'my logs': use a path of letters, digits and _.,+@%=:/~- "
        "only (it is written unquoted into remote shell commands)\n")


TPU = ["--name", "v", "--zone", "z", "--accelerator", "v3-32", "--workdir", "gs://b/r"]


@pytest.mark.parametrize("launcher", ["tpu", "slurm", "ssh"])
def test_dry_runs_check_the_config_and_its_overrides_here(launcher, tmp_path, capsys):
    # Issue 32: a config that does not exist, or a misspelt --config.* key, passed the dry run
    # (exit 0) and would surface on the workers after the TPU or the job was paid for.
    def run(config, *overrides):
        if launcher == "tpu":
            return tpu_vm.main([*TPU, "--config", config, *overrides, "--dry-run"])
        extra = ["--nodes", "2"] if launcher == "slurm" else ["--hosts", "gpu1,gpu2"]
        return gpu.main([launcher, *extra, "--config", config, "--workdir", "/w", *overrides,
                         "--dry-run"])

    assert run("configs/kinetics400/vivit_b16x2_fe.py") == 2
    assert capsys.readouterr().err == (
        "launch: error: config file 'configs/kinetics400/vivit_b16x2_fe.py' does not exist "
        "(the config is checked here before launching)\n")
    assert run(CFG, "--config.batch_sise=8") == 2
    err = capsys.readouterr().err
    assert err.startswith("launch: error: unknown config key 'batch_sise' (did you mean "
                          "'batch_size'?)") and err.count("\n") == 1
    assert run(CFG, "--config.optim.lr=fast") == 2
    assert "optim.lr" in capsys.readouterr().err
    if launcher == "tpu":  # Its config is looked up in --source, the code the workers get.
        assert tpu_vm.main([*TPU, "--config", CFG, "--source", str(tmp_path), "--dry-run"]) == 2
        assert f"config file '{tmp_path / CFG}' does not exist" in capsys.readouterr().err


def test_ssh_default_remote_dir_is_this_checkouts_path():
    lines = _dry(gpu.main, ["ssh", "--hosts", "gpu1", "--config", CFG, "--workdir", "/nfs/r",
                            "--dry-run"])
    assert lines[0].startswith(f"ssh gpu1 'cd {os.getcwd()} && ")
