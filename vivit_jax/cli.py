"""Command-line pieces every CLI shares, light enough for an instant `--help` (no jax, no
TensorFlow at import): `--config.FIELD=VALUE` overrides set apart from a command's own
arguments, the one way a command loads its config, `--views`, and the exit code of a
refusal."""
from __future__ import annotations


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separates `--config.key=value` overrides from the other arguments."""
    overrides, rest = [], []
    it = iter(argv)
    for arg in it:
        if arg.startswith("--config."):
            if "=" not in arg:  # `--config.key value`
                arg = f"{arg}={next(it, '')}"
            overrides.append(arg)
        else:
            rest.append(arg)
    return rest, overrides


def load_config(config: str | None, workdir: str | None = None, overrides=()):
    """The config of a command: `--config FILE[:ARG]`, or without one the resolved config a
    training run saved as `WORKDIR/config.json`, with `--config.FIELD=VALUE` overrides;
    validated and locked."""
    from vivit_jax import config as config_lib

    if config:
        return config_lib.load(config, list(overrides))
    from vivit_jax.evaluate import restore

    cfg = restore.load_workdir_config(workdir)
    cfg.unlock()
    config_lib.apply_overrides(cfg, list(overrides))
    cfg = config_lib.complete(cfg)
    cfg.lock()
    return cfg


def exit_code(error: BaseException) -> int:
    """Every CLI's exit code for a refusal: 2 for a config that cannot be used (a misspelt key,
    a value of the wrong type, a missing config file), as argparse's usage errors; 1 else."""
    from vivit_jax.config import ConfigError  # Only once there is an error: --help stays fast.

    return 2 if isinstance(error, ConfigError) else 1


def parse_views(text: str) -> tuple[int, int]:
    """'4x3' → (4 clips, 3 crops); crops must be 1 or 3 (centre / three along the long side)."""
    parts = str(text).lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--views {text!r}: expected CLIPSxCROPS such as 4x3")
    clips, crops = int(parts[0]), int(parts[1])
    if clips < 1:
        raise ValueError(f"--views {text!r}: the number of temporal clips must be >= 1")
    if crops not in (1, 3):
        raise ValueError(f"--views {text!r}: the number of spatial crops must be 1 or 3")
    return clips, crops
