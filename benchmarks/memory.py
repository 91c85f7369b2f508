"""Compiled peak memory of one train step, joint vs divided vs factorised vs separable
attention as T grows, with and without rematerialisation (issue 8; VidTr reports 3.3× less
memory for separable attention than joint).

  python benchmarks/memory.py                       # ViT-B, 224², batch 1, T = 8, 16, 32
  python benchmarks/memory.py --frames 8,16 --size 112 --layers 2

Compile-only: XLA's memory analysis of the trainer's own train step (arguments + undonated
outputs + temporaries, per device; `vivit_jax.evaluate.latency.compiled_memory`); nothing is
executed, so the figures do not depend on the machine's speed. Every kind tokenises frames
into 16×16 patches (ViViT with `tokenizer='frame'`), so the token counts are equal:
- joint: TimeSformer joint space-time (one attention over T·196 tokens);
- divided: TimeSformer divided space-time;
- factorised_encoder / factorised_self_attention: ViViT Models 2 / 3;
- separable: VidTr.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402

K400 = pathlib.Path(__file__).resolve().parents[1] / "configs" / "kinetics400"
FRAME_VIVIT = ["--config.model.tokenizer=frame", "--config.model.variant=B/16"]
KINDS = {
    "joint": ("timesformer_b16_joint_8x32x1_k400.py", []),
    "divided": ("timesformer_b16_divided_8x32x1_k400.py", []),
    "factorised_encoder": ("vivit_b16x2_fe_32x2x1_k400.py", FRAME_VIVIT),
    "factorised_self_attention": ("vivit_b16x2_fsa_32x2x1_k400.py", FRAME_VIVIT),
    "separable": ("vidtr_s_8x8_k400.py", []),
}
TARGET = 3.3  # Separable and divided at least this much below joint at T = 16.


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--frames", default="8,16,32")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--layers", type=int, default=0, help="0: ViT-B's 12")
    p.add_argument("--remat", default="false,true", help="which settings to compile")
    args = p.parse_args(argv)

    import jax

    from vivit_jax import config as config_lib
    from vivit_jax.evaluate import latency

    rows = []
    for t in [int(x) for x in args.frames.split(",")]:
        for remat in [x.strip().lower() == "true" for x in args.remat.split(",")]:
            joint = None
            for kind in args.kinds.split(","):
                file, extra = KINDS[kind]
                over = [f"--config.dataset.num_frames={t}",
                        f"--config.dataset.image_size={args.size}", "--config.batch_size=1",
                        f"--config.model.remat={remat}", *extra]
                if args.layers:
                    over.append(f"--config.model.num_layers={args.layers}")
                cfg = config_lib.load(str(K400 / file), over)
                mem = latency.compiled_memory(cfg, batch_size=1, devices=jax.devices()[:1])
                peak = mem["train_step"]["peak_memory_bytes"] / 2**20
                joint = peak if kind == "joint" else joint
                rows.append({"kind": kind, "frames": t, "remat": remat, "peak_mib": peak,
                             "joint_over_this": (joint / peak) if joint else None,
                             "temp_mib": mem["train_step"].get("temp_size_bytes", 0) / 2**20})
                print(f"[T={t} remat={remat}] {kind}: {peak:,.0f} MiB", file=sys.stderr,
                      flush=True)
    # Rematerialisation's saving per (kind, T).
    by = {(r["kind"], r["frames"], r["remat"]): r["peak_mib"] for r in rows}
    for r in rows:
        if r["remat"] and (r["kind"], r["frames"], False) in by:
            r["saving_vs_no_remat"] = by[(r["kind"], r["frames"], False)] / r["peak_mib"]
    print(f"train step, batch 1, {args.size}²; target: separable and divided >= {TARGET}× "
          "below joint at T = 16; remat >= 2× lower")
    common.print_table(rows, [("kind", "kind", "s"), ("frames", "T", "d"),
                              ("remat", "remat", ""), ("peak_mib", "peak MiB", ",.0f"),
                              ("joint_over_this", "joint / this", ".2f"),
                              ("saving_vs_no_remat", "no-remat / remat", ".2f")],
                       common.machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
