"""Experiment configs: load a `get_config(arg)` file, validate it, apply overrides.

A config file under `configs/` returns an `ml_collections.ConfigDict` that sets only what
differs from `defaults()`. Every key it sets, and every `--config.a.b=value` override, must
exist in the defaults (the model section: in its family's defaults) and keep its type —
a typo such as `config.datset` is refused with the closest known key, never silently
ignored (Scenic's K400 config carries such a typo unnoticed).
"""
from __future__ import annotations

import ast
import difflib
import importlib.util
import pathlib
from typing import Any

import ml_collections

from vivit_jax.data.config import default_data_config
from vivit_jax.models import default_model_config


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the culprit."""


def defaults() -> ml_collections.ConfigDict:
    """Every top-level key the trainer reads, with its default."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = default_model_config("vivit")
    c.dataset = default_data_config()

    c.batch_size = 64  # Global batch (all processes), per optimiser step.
    c.eval_batch_size = 64
    c.num_train_steps = 1000
    c.grad_accum_steps = 1  # Micro-batches per step; batch_size is split between them.
    c.label_smoothing = 0.0
    # Compute dtype: 'float32' or 'bfloat16' (params stay float32; bfloat16 pays on GPU/TPU,
    # XLA:CPU runs it slower than float32).
    c.dtype = "float32"

    c.optim = ml_collections.ConfigDict(dict(
        name="adamw",  # 'adamw' or 'sgd' (with momentum).
        lr=1e-3,  # Peak learning rate.
        schedule="cosine",  # 'cosine', 'linear', 'step' or 'constant' after warmup.
        warmup_steps=0,
        end_lr_factor=0.0,  # Final lr = lr * end_lr_factor (cosine/linear).
        step_boundaries=(0.5, 0.75),  # 'step': fractions of num_train_steps.
        step_decay=0.1,  # 'step': lr multiplied by this at each boundary.
        b1=0.9, b2=0.999, eps=1e-8,  # AdamW.
        momentum=0.9, nesterov=False,  # SGD.
        weight_decay=1e-4,  # Decoupled (AdamW) / L2 added to the gradient (SGD).
        # Parameters whose path matches one of these regexes get no weight decay.
        no_decay=(r"bias$", r"scale$", r"pos_embedding", r"(^|/)cls$", r"time_embed"),
        grad_clip_norm=1.0,  # 0 disables clipping.
        # Fine-tuning parameter groups, regexes over '/'-joined parameter paths (see
        # vivit_jax/param_groups.py): `frozen` ones get no update and no optimiser state;
        # `train_only`, if set, freezes every parameter matching none of its patterns (a
        # linear probe: (r"^head/",)); `lr_mult`: (regex, factor) pairs multiplying the
        # learning rate of matching parameters; `layer_decay` < 1: layer-wise decay
        # (block i of L: decay^(L-i), embeddings decay^(L+1), head 1).
        frozen=(), train_only=(), lr_mult=(), layer_decay=1.0,
    ))

    # Device mesh: (axis, size) pairs, -1 = all remaining devices; axes in order of increasing
    # communication (the last ones get the fastest links). Logical parameter axes
    # map to mesh axes through `sharding_rules` (see vivit_jax/sharding.py).
    c.mesh = (("data", -1), ("fsdp", 1), ("model", 1))
    # How many TPU slices each mesh axis spans over the data-centre network (the rest of the
    # axis stays within a slice; `mesh` stays the whole mesh); -1 = the remaining slices
    # (1 without slices). On GPU hosts, sizes > 1 make processes the units, e.g.
    # (("data", 2), ("fsdp", 1), ("model", 1)) for 2 hosts.
    c.dcn_mesh = (("data", -1), ("fsdp", 1), ("model", 1))
    c.sharding_rules = (("embed", "fsdp"), ("mlp", "model"), ("heads", "model"),
                        ("kv", None), ("classes", None))
    # Logical activation axes → mesh axes, applied at block boundaries (sharding.constrain).
    # A name without a rule, or a dimension its mesh axes do not divide, is left to XLA.
    c.activation_rules = (("activation_batch", ("data", "fsdp")), ("activation_tokens", None),
                          ("activation_embed", None), ("activation_heads", "model"),
                          ("activation_kv", None), ("activation_mlp", "model"))

    # Fine-tuning: start from `checkpoint` (a vivit-convert output, an earlier run's workdir
    # or checkpoints/<step>, or a ViT .npz/.safetensors) when the workdir has no checkpoint
    # of its own. `dont_load`: regexes of parameter paths kept freshly initialised (the head
    # is re-initialised anyway when the class count differs). `posemb`: how position
    # embeddings follow a resolution / frame-count change: 'tile', 'resize', 'resize_tile'.
    # `allow_fresh_encoder`: load even when most encoder tensors are not in the checkpoint
    # (refused by default: it means a checkpoint of another model, layout or depth).
    c.init_from = ml_collections.ConfigDict(dict(checkpoint="", dont_load=(),
                                                 posemb="resize_tile",
                                                 allow_fresh_encoder=False))

    c.log_every_steps = 50
    c.eval_every_steps = 500  # 0: only at the end.
    c.checkpoint_every_steps = 500
    c.keep_checkpoints = 3
    c.eval_test_split = True  # After training, also evaluate dataset.test_split.

    # JAX's persistent compilation cache (vivit_jax/compile_cache.py): 'auto' = WORKDIR/
    # compile_cache for a gs:// workdir, ~/.cache/vivit_jax/jax for a local one; a path; ''
    # = off. A restarted or preempted run then skips recompiling its steps.
    c.compile_cache_dir = "auto"
    # Dense peak TFLOP/s of one device for the `mfu` of the train logs; 0 = from the table
    # in vivit_jax/mfu.py by device kind (GPUs, TPUs), no `mfu` where the kind is unknown.
    c.peak_tflops_per_device = 0.0
    return c


def _suggest(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_against(cfg: ml_collections.ConfigDict, ref: ml_collections.ConfigDict,
                   prefix: str) -> None:
    """Refuses keys of `cfg` that `ref` does not have, and values of another type."""
    for key, value in cfg.items():
        path = f"{prefix}{key}"
        if key not in ref:
            raise ConfigError(f"unknown config key {path!r}{_suggest(key, ref.keys())}; "
                              f"known keys here: {sorted(ref.keys())}")
        expected = ref[key]
        if isinstance(expected, ml_collections.ConfigDict):
            if not isinstance(value, (ml_collections.ConfigDict, dict)):
                raise ConfigError(f"config key {path!r} must be a section (ConfigDict), "
                                  f"got {type(value).__name__}")
            _check_against(ml_collections.ConfigDict(value), expected, path + ".")
        else:
            _check_type(path, value, expected)


def _check_type(path: str, value: Any, expected: Any) -> None:
    if expected is None or value is None:
        return
    ok = isinstance(value, type(expected))
    if isinstance(expected, float) and isinstance(value, int) and not isinstance(value, bool):
        ok = True  # An int where a float is expected is fine (lr=1).
    if isinstance(expected, (tuple, list)) and isinstance(value, (tuple, list)):
        ok = True
    if isinstance(expected, bool) != isinstance(value, bool):
        ok = False
    if not ok:
        raise ConfigError(f"config key {path!r} expects {type(expected).__name__} "
                          f"(default {expected!r}), got {type(value).__name__} {value!r}")


def _merge(base: ml_collections.ConfigDict, cfg: ml_collections.ConfigDict) -> None:
    for key, value in cfg.items():
        if isinstance(base[key], ml_collections.ConfigDict):
            _merge(base[key], ml_collections.ConfigDict(value))
        else:
            if isinstance(base[key], float) and isinstance(value, int):
                value = float(value)
            with base.ignore_type():
                base[key] = value


def complete(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Validates `cfg` against the defaults and returns defaults ⊕ cfg."""
    family = cfg.get("model", {}).get("family", "vivit")
    ref = defaults()
    try:
        ref.model = default_model_config(family)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    _check_against(cfg, ref, "")
    _merge(ref, cfg)
    return ref


def parse_override(text: str) -> tuple[str, str]:
    """`config.a.b=value` (leading dashes and `config.` optional) → ('a.b', 'value')."""
    body = text.lstrip("-")
    if body.startswith("config."):
        body = body[len("config."):]
    if "=" not in body:
        raise ConfigError(f"override {text!r} must look like --config.key=value")
    key, value = body.split("=", 1)
    return key, value


def _coerce(path: str, raw: str, current: Any) -> Any:
    """Parses the override text with the type of the value it replaces."""
    if isinstance(current, str):
        return raw
    if isinstance(current, bool):
        low = raw.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise ConfigError(f"--config.{path}={raw!r}: expected a bool (true/false)")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        if current is None:
            return raw
        raise ConfigError(f"--config.{path}={raw!r}: expected {type(current).__name__} "
                          f"like the default {current!r}") from None
    if current is not None:
        _check_type(f"--config.{path}", value, current)
        if isinstance(current, float):
            value = float(value)
        if isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
    return value


def apply_overrides(cfg: ml_collections.ConfigDict, overrides: list[str]) -> None:
    """Applies `a.b=value` overrides in place; unknown keys and bad types are refused."""
    for text in overrides:
        path, raw = parse_override(text)
        node = cfg
        parts = path.split(".")
        for i, part in enumerate(parts):
            if part not in node:
                where = ".".join(parts[:i]) or "config"
                raise ConfigError(f"unknown config key {path!r}{_suggest(part, node.keys())}; "
                                  f"{where} has {sorted(node.keys())}")
            if i < len(parts) - 1:
                node = node[part]
                if not isinstance(node, ml_collections.ConfigDict):
                    raise ConfigError(f"config key {'.'.join(parts[:i + 1])!r} is a value, "
                                      f"not a section")
        leaf = parts[-1]
        if isinstance(node[leaf], ml_collections.ConfigDict):
            raise ConfigError(f"config key {path!r} is a section; override its fields")
        with node.ignore_type():
            node[leaf] = _coerce(path, raw, node[leaf])


def from_json(text: str, where: str = "config.json") -> ml_collections.ConfigDict:
    """A resolved config as written into every workdir (`config.json`), lists back to tuples."""
    import json
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"config file {where!r} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {where!r} holds a {type(data).__name__}, not a config")
    cfg = ml_collections.ConfigDict(data)
    _tuples(cfg)
    return cfg


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def _tuples(cfg: ml_collections.ConfigDict) -> None:
    """JSON turned tuples into lists, at any depth (e.g. `('batch', ('data', 'fsdp'))`); the
    configs and the model code use tuples."""
    for key, value in cfg.items():
        if isinstance(value, ml_collections.ConfigDict):
            _tuples(value)
        elif isinstance(value, list):
            with cfg.ignore_type():
                cfg[key] = _as_tuple(value)


def load_file(spec: str) -> ml_collections.ConfigDict:
    """Runs `get_config(arg)` of `path[:arg]` and returns what it returns; a `.json` file is
    a workdir's resolved `config.json` (e.g. a converted released checkpoint's)."""
    from vivit_jax import fileio

    if fileio.is_remote(spec):  # A workdir's config.json in a bucket (`gs://…/config.json`).
        if not spec.endswith(".json"):
            raise ConfigError(f"config file {spec!r}: only a .json config can be read from a "
                              f"URL (a .py config is imported from a local file)")
        try:
            return from_json(fileio.read_text(spec), spec)
        except FileNotFoundError:
            raise ConfigError(f"config file {spec!r} does not exist") from None
        except OSError as e:
            raise ConfigError(f"config file {spec!r} cannot be read: {e}") from None
    path, _, arg = spec.partition(":")
    file = pathlib.Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path!r} does not exist")
    if file.suffix == ".json":
        if arg:
            raise ConfigError(f"config file {path!r}: a .json config takes no ':{arg}'")
        return from_json(file.read_text(), path)
    mod_spec = importlib.util.spec_from_file_location(f"_vivit_config_{file.stem}", file)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:  # A broken config file: say which, keep the cause.
        raise ConfigError(f"config file {path!r} failed to load: {type(e).__name__}: {e}") from e
    if not hasattr(module, "get_config"):
        raise ConfigError(f"config file {path!r} has no get_config(arg) function")
    try:
        cfg = module.get_config(arg) if arg else module.get_config()
    except TypeError as e:
        raise ConfigError(f"config file {path!r}: get_config failed: {e}") from e
    if not isinstance(cfg, ml_collections.ConfigDict):
        raise ConfigError(f"config file {path!r}: get_config returned {type(cfg).__name__}, "
                          f"not an ml_collections.ConfigDict")
    return cfg


def switch_family(cfg: ml_collections.ConfigDict, family: str) -> list[str]:
    """Makes `cfg` (a config file's, before `complete`) a `family` model: keeps the `model`
    fields the new family also has (variant, sizes, classifier, dropout, …), drops the
    others, and returns the dropped names. The new family's defaults fill the rest."""
    try:
        known = default_model_config(family)
    except ValueError as e:
        raise ConfigError(f"--config.model.family={family!r}: {e}") from None
    model = cfg.get("model") or ml_collections.ConfigDict()
    kept = {k: v for k, v in model.items() if k in known}
    dropped = sorted(k for k in model.keys() if k not in known)
    with cfg.ignore_type():
        cfg.model = ml_collections.ConfigDict({**kept, "family": family})
    return dropped


def load(spec: str, overrides: list[str] = ()) -> ml_collections.ConfigDict:
    """The full, validated config for `path[:arg]` plus command-line overrides, locked.

    `--config.model.family=F` on a config of another family switches the model: F's
    defaults, with the file's model fields that F also has (a note on stderr lists the
    ones dropped); the other overrides then apply as usual.
    """
    import sys

    cfg = load_file(spec)
    overrides = list(overrides)
    is_family = [parse_override(o)[0] == "model.family" for o in overrides]
    families = [parse_override(o)[1] for o, f in zip(overrides, is_family) if f]
    if families:
        overrides = [o for o, f in zip(overrides, is_family) if not f]
        old = (cfg.get("model") or {}).get("family", "vivit")
        if families[-1] != old:
            dropped = switch_family(cfg, families[-1])
            if dropped:
                print(f"note: model.family={families[-1]!r} replaces {old!r}: the config's "
                      f"model fields {dropped} are {old}-only and were dropped",
                      file=sys.stderr)
    cfg = complete(cfg)
    apply_overrides(cfg, overrides)
    cfg.lock()
    return cfg
