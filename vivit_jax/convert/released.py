"""Released video checkpoints → a vivit_jax workdir that evaluates, predicts and fine-tunes.

    vivit-convert --checkpoint FILE --out DIR [--format NAME] [--config.FIELD=VALUE …]

A released checkpoint (Scenic ViViT msgpack, Hugging Face ViViT / TimeSformer safetensors
with their `config.json`, official TimeSformer or gluonmm VidTr after the one-line
torch→safetensors conversion) is read by its format module under `convert/formats/`, which
returns a `Released`: the parameters already renamed and reshaped into our model's layout,
plus the config overrides that describe the model the reference code builds (variant,
frames, resolution, classes, normalisation, the reference's test views). This module turns
that into a workdir:

    DIR/config.json            the full resolved config (vivit-eval / -predict read it)
    DIR/checkpoints/0/default  Orbax `{"params": …}` (what a training run's step holds)
    DIR/label_map.json         class names, when the checkpoint carries them
    DIR/convert.json           what was loaded, adapted, kept fresh

so `vivit-eval --workdir DIR --views 4x3`, `vivit-predict --checkpoint DIR clip.mp4` and
`--config.init_from.checkpoint=DIR` work at once. Every check (file readable, format known,
every tensor present and of the right shape, output writable) runs before anything is
written into DIR.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vivit_jax import fileio

# format name → module under vivit_jax.convert.formats. Each module has
#   DESCRIPTION: str
#   matches(tensors: dict[str, np.ndarray], path: str) -> bool
#   read(tensors: dict[str, np.ndarray], path: str) -> Released
# `tensors` is the raw file content with '/'-joined names (see `load_raw`); the modules
# stand on `formats/common.py`.
FORMATS = {
    "scenic": "vivit_jax.convert.formats.scenic",
    "hf_vivit": "vivit_jax.convert.formats.hf_vivit",
    "hf_timesformer": "vivit_jax.convert.formats.hf_timesformer",
    "timesformer": "vivit_jax.convert.formats.timesformer_official",
    "gluonmm": "vivit_jax.convert.formats.gluonmm",
}


@dataclasses.dataclass
class GuessedGrid:
    """A token grid a format could only guess from a position embedding's row count (Scenic
    Models 1, 3, 4: `t·g²` rows fit several grids); `fit_grid` reads them as the grid the
    user gives instead."""
    tokens: int  # Grid rows of the position embedding (class-token rows excluded).
    tubelet: int  # Frames per token.
    patch: int  # Pixels per token side.
    grid: tuple[int, int]  # The format's guess (t, g): t·g·g = tokens.
    how: str  # Why that guess.


@dataclasses.dataclass
class Released:
    """A released checkpoint in our layout, with the config of the model it belongs to."""
    format: str
    source: str
    # Flat '/'-joined names of our model's *unscanned* parameter tree → float32 arrays.
    params: dict[str, np.ndarray]
    # Nested overrides over `config.defaults()` (`{"model": {...}, "dataset": {...}, ...}`)
    # that build the model the reference code builds, with its preprocessing and test views.
    config: dict[str, Any]
    label_names: list[str] | None = None
    adapted: list[str] = dataclasses.field(default_factory=list)  # 'ours ← theirs: how'
    ignored: list[str] = dataclasses.field(default_factory=list)  # Source tensors not used.
    notes: list[str] = dataclasses.field(default_factory=list)  # For the user, printed.
    guessed_grid: GuessedGrid | None = None  # Set where the token grid was a guess.


class ReleasedError(ValueError):
    """A released checkpoint that cannot be read or does not fit; names file and tensor."""


def load_raw(path: str) -> dict[str, np.ndarray]:
    """The file's tensors with '/'-joined names (`readers.read_tensors`: safetensors, npz or
    a Flax msgpack state; pickles refused); an unreadable file is a ReleasedError naming it."""
    from vivit_jax.convert import readers
    return readers.read_tensors(path, msgpack=True, error=ReleasedError)


def _format_module(name: str):
    if name not in FORMATS:
        raise ReleasedError(f"--format {name!r}: expected one of {sorted(FORMATS)}")
    return importlib.import_module(FORMATS[name])


def read(path: str, fmt: str | None = None) -> Released:
    """Reads a released checkpoint (format detected unless `fmt` is given)."""
    tensors = load_raw(path)
    if fmt is None:
        found = [n for n in FORMATS if _format_module(n).matches(tensors, str(path))]
        if not found:
            raise ReleasedError(
                f"{str(path)!r}: not a released video checkpoint this tool knows (formats: "
                f"{', '.join(sorted(FORMATS))}); first tensors: {sorted(tensors)[:8]}. "
                f"For an image ViT use --vit")
        if len(found) > 1:
            raise ReleasedError(f"{str(path)!r} fits several formats ({', '.join(found)}); "
                                f"pick one with --format")
        fmt = found[0]
    return _format_module(fmt).read(tensors, str(path))


def detect(path: str) -> list[str]:
    """The formats whose `matches` accepts the file (exactly one for a known checkpoint)."""
    tensors = load_raw(path)
    return [n for n in FORMATS if _format_module(n).matches(tensors, str(path))]


# ---------------------------------------------------------------------------------------
# Released → our config and params.
# ---------------------------------------------------------------------------------------
def make_config(released: Released, overrides: Sequence[str] = ()):
    """The full validated config of the released model, with command-line overrides."""
    import ml_collections

    from vivit_jax import config as config_lib
    cfg = config_lib.complete(ml_collections.ConfigDict(released.config))
    config_lib.apply_overrides(cfg, list(overrides))
    return config_lib.complete(cfg)


def _file_grid(guess: GuessedGrid, frames: int | None, size: int | None
               ) -> tuple[tuple[int, int], str]:
    """The grid `(t, g)` the rows hold: the user's resolution if `guess.tokens` splits at it,
    else their frame count if it does, else the format's guess."""
    n = guess.tokens
    if size and size % guess.patch == 0 and n % (size // guess.patch) ** 2 == 0:
        return (n // (size // guess.patch) ** 2, size // guess.patch), f"the given {size}² crop"
    if frames and frames % guess.tubelet == 0 and n % (frames // guess.tubelet) == 0:
        t = frames // guess.tubelet
        g = math.isqrt(n // t)
        if g * g * t == n:
            return (t, g), f"the given {frames} frames"
    return guess.grid, guess.how


def fit_grid(released: Released, overrides: Sequence[str] = ()) -> Released:
    """`released` with its guessed token grid read as the frames / resolution the user gives
    (`--config.dataset.num_frames` / `image_size`) where the rows fit them, and a note saying
    whether the position embedding was read as that grid or resampled to it."""
    from vivit_jax import config as config_lib
    guess = released.guessed_grid
    if guess is None:
        return released
    given = {config_lib.parse_override(o)[0] for o in overrides}
    cfg = make_config(released, overrides)
    frames = cfg.dataset.num_frames if "dataset.num_frames" in given else None
    size = cfg.dataset.image_size if "dataset.image_size" in given else None
    (t, g), how = _file_grid(guess, frames, size)
    dataset = dict(released.config["dataset"])
    ratio = dataset["min_resize"] / dataset["image_size"]
    dataset.update(num_frames=t * guess.tubelet, image_size=g * guess.patch,
                   min_resize=round(g * guess.patch * ratio))
    rows = (f"the position embedding's {guess.tokens} grid rows read as {t}×{g}×{g} "
            f"({t * guess.tubelet} frames, {g * guess.patch}² crop: {how})")
    # What the model is built for: the given sizes, the rows' own where none is given.
    frames, size = frames or t * guess.tubelet, size or g * guess.patch
    want = (frames // guess.tubelet, size // guess.patch)
    if not given & {"dataset.num_frames", "dataset.image_size"}:
        note = (f"{rows}; if the checkpoint was trained on another grid, pass its "
                f"--config.dataset.num_frames / image_size and the rows are read as that")
    elif want == (t, g):
        note = f"{rows}, as given: no resampling"
    else:
        note = (f"{rows}; resampled to {want[0]}×{want[1]}×{want[1]} ({frames} frames, "
                f"{size}²) as asked (init_from.posemb="
                f"{cfg.init_from.posemb!r})")
    return dataclasses.replace(released, config={**released.config, "dataset": dataset},
                               notes=[*released.notes, note])


def to_params(released: Released, cfg, *, allow_fresh: Sequence[str] = ()):
    """`(params pure dict for cfg's model, report)`: every tensor of the released model
    moved in; position/time embeddings follow a changed frame count or resolution, the head
    is re-initialised for another class count. Anything else left fresh is an error.
    """
    import re

    import jax
    from flax import nnx

    from vivit_jax.convert import transfer

    src_cfg = make_config(released)
    dst_model = transfer.abstract_model(cfg)
    try:
        src_layouts = transfer.token_layouts(transfer.abstract_model(src_cfg))
    except ValueError:
        src_layouts = None
    # Every tensor normally comes from the checkpoint: the model is initialised (under jit,
    # all of it) only when something stays fresh, e.g. a new head.
    shapes = nnx.to_pure_dict(nnx.state(dst_model, nnx.Param))
    placeholder = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), shapes)
    new, report = transfer.transfer(
        placeholder, released.params, dst_layouts=transfer.token_layouts(dst_model),
        src_layouts=src_layouts, alias_rows=[], posemb=cfg.init_from.posemb, load_head=True)
    missing = [f for f in report.fresh if not f.startswith("head/")
               and not any(re.search(p, f.split(":")[0]) for p in allow_fresh)]
    if missing:
        raise ReleasedError(
            f"{released.source!r} ({released.format}) does not give every tensor of the "
            f"model: {'; '.join(missing[:6])}{' …' if len(missing) > 6 else ''}")
    if report.fresh:
        new = _fill_fresh(new, transfer.fresh_params(cfg), [f.split(":")[0] for f in report.fresh])
    report.unused = sorted(set(report.unused) | set(released.ignored))
    return new, report


def _fill_fresh(params: dict, fresh: dict, names: Sequence[str]) -> dict:
    """`params` with the (unscanned-name) tensors `names` taken from `fresh`."""
    import jax

    from vivit_jax.convert import transfer
    params, stacked = transfer.unstack_groups(params)
    fresh_flat = transfer.flatten(transfer.unstack_groups(fresh)[0])
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    out = []
    for path, value in leaves:
        name = "/".join(str(getattr(k, "key", k)) for k in path)
        out.append(np.asarray(fresh_flat[name]) if name in names else value)
    return transfer.restack_groups(jax.tree_util.tree_unflatten(treedef, out), stacked)


# ---------------------------------------------------------------------------------------
# The workdir.
# ---------------------------------------------------------------------------------------
def check_out_dir(out: str) -> None:
    """Refuses an output that holds a run (config.json or checkpoints/) or cannot be written;
    creates nothing."""
    from vivit_jax import outputs
    from vivit_jax.checkpoint import orbax_path
    orbax_path(fileio.join(out, "checkpoints"))  # A URL scheme Orbax cannot write: refused.
    for name in ("config.json", "checkpoints"):
        if fileio.exists(fileio.join(out, name)):
            raise FileExistsError(f"{fileio.join(out, name)!r} already exists; choose another "
                                  f"--out (nothing was overwritten)")
    outputs.creatable_dir(out, "--out")


def write_workdir(out: str, cfg, params: dict, record: dict,
                  label_names: list[str] | None) -> None:
    """config.json, checkpoints/0 (`{"params": …}`), label_map.json, convert.json."""
    import jax

    from vivit_jax.checkpoint import Checkpointer
    fileio.makedirs(out)
    ckpt = Checkpointer(out, every_steps=1, keep=1, async_save=False)
    try:
        ckpt.save(0, {"params": jax.tree.map(jax.numpy.asarray, params)}, force=True)
    finally:
        ckpt.close()
    if label_names:
        fileio.write_text(fileio.join(out, "label_map.json"),
                          json.dumps({"labels": list(label_names)}, indent=1))
    fileio.write_text(fileio.join(out, "convert.json"), json.dumps(record, indent=2))
    # Last: marks a complete workdir.
    fileio.write_text(fileio.join(out, "config.json"), cfg.to_json_best_effort(indent=2))


def convert(path: str, out: str, *, fmt: str | None = None, overrides: Sequence[str] = (),
            log: Callable[[str], None] = print) -> dict:
    """Reads, checks and writes the workdir `out`; returns the record (`out/convert.json`)."""
    check_out_dir(out)
    released = fit_grid(read(path, fmt), overrides)
    log(f"read {released.format} checkpoint {path!r}: {len(released.params)} tensors")
    for note in released.notes:
        log(f"  note: {note}")
    cfg = make_config(released, overrides)
    params, report = to_params(released, cfg)
    record = dict(checkpoint=str(path), format=released.format, overrides=list(overrides),
                  model=cfg.model.to_dict(), renamed=released.adapted, loaded=report.loaded,
                  adapted=report.adapted, fresh=report.fresh, unused_source=report.unused,
                  label_names=bool(released.label_names), notes=released.notes)
    write_workdir(out, cfg, params, record, released.label_names)
    log(report.summary())
    if released.adapted:
        log(f"  renamed/reshaped from the {released.format} layout: {len(released.adapted)} "
            f"tensors (list in convert.json)")
    log(f"wrote {out}: config.json, checkpoints/0, convert.json"
        + (", label_map.json" if released.label_names else ""))
    return record


def load_model(released: Released, overrides: Sequence[str] = ()):
    """`(cfg, model)`: the released model built and loaded in memory (parity tests, notebooks)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from vivit_jax.convert import transfer
    released = fit_grid(released, overrides)
    cfg = make_config(released, overrides)
    params, _ = to_params(released, cfg)
    # Built abstractly and filled: no initialisation to compile (every Param is given).
    graphdef, state, rest = nnx.split(transfer.abstract_model(cfg), nnx.Param, ...)
    nnx.replace_by_pure_dict(state, jax.tree.map(jnp.asarray, params))
    return cfg, nnx.merge(graphdef, state, rest)
