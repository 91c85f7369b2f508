r"""`vivit-convert`: a checkpoint → something vivit_jax trains, evaluates and fine-tunes from.

Two sources:

  vivit-convert --checkpoint FILE --out DIR [--format NAME] [--config.FIELD=VALUE …]

a **released video checkpoint** (Scenic ViViT msgpack, Hugging Face ViViT / TimeSformer
safetensors + config.json, official TimeSformer or gluonmm VidTr safetensors; format
detected, `--format` overrides) → a workdir with its config, params and label names, ready
for `vivit-eval --workdir DIR`, `vivit-predict --checkpoint DIR` and
`--config.init_from.checkpoint=DIR` (see `convert/released.py`). Overrides change the
written config (e.g. `--config.dataset.data_dir=…`; another `dataset.num_frames` or
`image_size` resizes the position/time embeddings, another `num_classes` a fresh head).

  vivit-convert --vit ViT-B_16.npz --config configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py \
      --out /ckpt/vivit_b_fe_init [--init central_frame|inflate|random] \
      [--posemb tile|resize|resize_tile] [--keep-head] [--config.FIELD=VALUE …]

an **image ViT** → the initial params of the video model a config describes; then train with
`--config.init_from.checkpoint=/ckpt/vivit_b_fe_init`. Writes to `--out`:
`params/` (Orbax, the params pure-dict tree), `config.json` (the full config) and
`convert.json` (what was loaded, adapted, kept fresh). Every family but STAT (trained from
scratch) is supported; the ViT-less parts follow the reference codes: Model 2's
temporal encoder and TimeSformer's `temporal_fc` / `time_embed` / VidTr's `time_embed` stay
as the model initialises them, TimeSformer's temporal attention (and Model 3's with
`temporal_attention_init='copy_spatial'`) start from the ViT's spatial attention.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from vivit_jax import fileio
from vivit_jax.convert.initializers import KERNEL_INITS, POSEMB_MODES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vivit-convert", description=__doc__.split("\n")[0],
        epilog="Override any config field with --config.FIELD=VALUE (e.g. "
               "--config.dataset.num_frames=16).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a released video checkpoint: Scenic msgpack, Hugging "
                     "Face / official TimeSformer / gluonmm VidTr .safetensors")
    src.add_argument("--vit", help="an image ViT: .npz (vision_transformer, big_vision) or "
                     ".safetensors (timm, Hugging Face)")
    p.add_argument("--format", help="with --checkpoint: the format, when detection is not "
                   "wanted (scenic, hf_vivit, hf_timesformer, timesformer, gluonmm)")
    p.add_argument("--config", help="with --vit: config file, optionally FILE:ARG")
    p.add_argument("--out", required=True, help="output directory (must not hold a run)")
    p.add_argument("--init", default="central_frame", choices=KERNEL_INITS,
                   help="tubelet kernel from the 2D patch kernel (ViViT Section 3.4)")
    p.add_argument("--posemb", default="resize_tile", choices=POSEMB_MODES,
                   help="position embeddings: tile over time; resize when the grid differs")
    p.add_argument("--keep-head", action="store_true",
                   help="keep the ViT's classifier (class counts must match)")
    return p


def convert(vit_path: str, config, out: str, *, init: str = "central_frame",
            posemb: str = "resize_tile", keep_head: bool = False, log=print) -> dict:
    """Converts and writes `out/`; returns the conversion record (also `out/convert.json`)."""
    from vivit_jax.checkpoint import orbax_path, save_params
    from vivit_jax.convert import readers, transfer
    from vivit_jax.convert.initializers import TokenLayout
    from vivit_jax.models import tokenizers

    if config.model.family == "stat":
        raise ValueError("model.family='stat': STAT is trained from scratch (as in its paper; its "
                         "hierarchical stages have no ViT counterpart), so vivit-convert has "
                         "nothing to convert; train it without init_from")
    out_dir = fileio.absolute(out).rstrip("/")  # Local or `gs://…`.
    params_dir = orbax_path(fileio.join(out_dir, "params"))  # Orbax must write it: checked now.
    if fileio.exists(str(params_dir)):
        raise FileExistsError(f"{str(params_dir)!r} already exists; choose another "
                              f"--out (nothing was overwritten)")
    sizes = tokenizers.resolve_sizes(config.model)
    vit = readers.read_vit(vit_path, num_heads=sizes["num_heads"])
    log(f"read {vit.layout} ViT {vit_path!r}: {vit.num_layers} layers, width "
        f"{vit.hidden_size}, {vit.num_heads} heads, patch {vit.patch_size}, grid {vit.grid}")
    if vit.num_layers != sizes["num_layers"]:
        raise ValueError(f"model.num_layers={sizes['num_layers']} but the ViT has "
                         f"{vit.num_layers} encoder blocks (Transformer/encoderblock_*)")
    head = vit.params.get("head/kernel")
    classes = config.dataset.num_classes
    if keep_head and (head is None or head.shape[-1] != classes):
        found = "no head" if head is None else f"{head.shape[-1]} classes {head.shape}"
        raise ValueError(f"--keep-head: tensor 'head/kernel' expected (…, {classes}) for "
                         f"dataset.num_classes={classes}, found {found}")
    model = transfer.abstract_model(config)
    params = transfer.fresh_params(config)
    new, report = transfer.transfer(
        params, vit.params, dst_layouts=transfer.token_layouts(model),
        src_layouts={transfer.POS: TokenLayout(1, (1, *vit.grid))},
        alias_rows=transfer.aliases(model, config.model), kernel_init=init, posemb=posemb,
        load_head=keep_head, zero=transfer.zeros(model))
    report.check_encoder(f"{vit.layout} ViT {vit_path!r}", config.init_from.allow_fresh_encoder)
    model_gelu = "tanh" if config.model.get("approximate_gelu", False) else "erf"
    if model_gelu != vit.gelu:
        log(f"note: the {vit.layout} ViT was trained with {vit.gelu} GELU, the model computes "
            f"{model_gelu} GELU" + (" (set --config.model.approximate_gelu="
                                    f"{vit.gelu == 'tanh'})" if "approximate_gelu"
                                    in config.model else "") + "; fine-tuning absorbs it")
    fileio.makedirs(out_dir)
    save_params(params_dir, new)
    fileio.write_text(fileio.join(out_dir, "config.json"), config.to_json_best_effort(indent=2))
    record = dict(vit=str(vit_path), layout=vit.layout, init=init, posemb=posemb,
                  keep_head=keep_head, loaded=report.loaded, adapted=report.adapted,
                  fresh=report.fresh, unused_source=report.unused,
                  ignored_source=vit.ignored)
    fileio.write_text(fileio.join(out_dir, "convert.json"), json.dumps(record, indent=2))
    log(report.summary())
    if vit.ignored:
        log(f"  source tensors with no canonical name (ignored): {vit.ignored}")
    log(f"wrote {params_dir}")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point for `vivit-convert`."""
    from vivit_jax.cli import exit_code, load_config, split_args
    rest, overrides = split_args(sys.argv[1:] if argv is None else list(argv))
    parser = _parser()
    args = parser.parse_args(rest)
    if args.vit and not args.config:
        parser.error("--vit needs --config (the video model to build)")
    if args.checkpoint and args.config:
        parser.error("--checkpoint builds the model the checkpoint describes; override its "
                     "fields with --config.FIELD=VALUE instead of --config")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from vivit_jax import config as config_lib
    if args.checkpoint:
        return _main_released(args, overrides)
    try:
        cfg = load_config(args.config, overrides=overrides)
        convert(args.vit, cfg, args.out, init=args.init, posemb=args.posemb,
                keep_head=args.keep_head)
    except (config_lib.ConfigError, FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"vivit-convert: error: {e}", file=sys.stderr, flush=True)
        return exit_code(e)
    print(f"next: vivit-train --config {args.config} --workdir WORKDIR "
          f"--config.init_from.checkpoint={fileio.absolute(args.out)} "
          + " ".join(overrides))
    return 0


def _main_released(args, overrides: list[str]) -> int:
    from vivit_jax import config as config_lib
    from vivit_jax.cli import exit_code
    from vivit_jax.convert import released
    try:
        released.convert(args.checkpoint, args.out, fmt=args.format, overrides=overrides)
    except (config_lib.ConfigError, FileNotFoundError, FileExistsError, ValueError,
            PermissionError, NotADirectoryError) as e:
        print(f"vivit-convert: error: {e}", file=sys.stderr, flush=True)
        return exit_code(e)
    print(f"next: vivit-eval --workdir {args.out} --config.dataset.data_dir=SHARDS\n"
          f"      vivit-predict --checkpoint {args.out} VIDEO.mp4\n"
          f"      vivit-train --config {args.out}/config.json --workdir WORKDIR "
          f"--config.init_from.checkpoint={args.out} --config.dataset.data_dir=SHARDS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
