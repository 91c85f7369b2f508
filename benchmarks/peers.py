"""Ours against the PyTorch peers on the same machine in the same run (issue 8): Hugging Face
transformers' ViViT (Model 1) and TimeSformer (divided), CPU build of PyTorch.

  pip install -e '.[peers]'          # torch==2.13.0 (CPU wheel here) and transformers
  python benchmarks/peers.py         # ViT-B, 8 frames, 112², batch 2
  python benchmarks/peers.py --layers 1 --size 32   # smoke test

Same architecture on both sides: ViT-B width and depth, 16×16 patches (ViViT 2×16×16
tubelets), 400 classes, no dropout / stochastic depth; GELU as each model's reference (tanh
for ViViT, erf for TimeSformer). Forward: eval mode, `torch.inference_mode`; train step:
AdamW + cross-entropy, forward + backward + update. Both timed as the median of `--repeats`
windows of `--calls` calls after a warm-up; torch uses all cores (`torch.set_num_threads`).
Target printed beside the figures: ours >= 2.0× the peer's clips/s.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402
from model_throughput import family_config  # noqa: E402

TARGET = 2.0


def hf_model(kind: str, *, frames: int, size: int, layers: int):
    import transformers

    common_kw = dict(image_size=size, num_frames=frames, hidden_size=768,
                     num_hidden_layers=layers or 12, num_attention_heads=12,
                     intermediate_size=3072, num_labels=400, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    if kind == "vivit_st":
        cfg = transformers.VivitConfig(tubelet_size=[2, 16, 16], hidden_act="gelu_pytorch_tanh",
                                       **common_kw)
        return transformers.VivitForVideoClassification(cfg)
    cfg = transformers.TimesformerConfig(patch_size=16, attention_type="divided_space_time",
                                         hidden_act="gelu", drop_path_rate=0, **common_kw)
    return transformers.TimesformerForVideoClassification(cfg)


def torch_rates(model, *, frames: int, size: int, batch: int, calls: int,
                repeats: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(os.cpu_count())
    video = torch.rand(batch, frames, 3, size, size) * 2 - 1  # HF layout: [B, T, C, H, W].
    labels = torch.randint(0, 400, (batch,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def fwd(k):
        model.eval()
        with torch.inference_mode():
            for _ in range(k):
                model(pixel_values=video).logits.sum().item()

    def step(k):
        model.train()
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(pixel_values=video).logits, labels)
            loss.backward()
            opt.step()
        loss.item()

    return {"forward_clips_per_s": common.median_rate(fwd, batch, calls, repeats),
            "train_clips_per_s": common.median_rate(step, batch, calls, repeats)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--layers", type=int, default=0, help="0: ViT-B's 12")
    p.add_argument("--calls", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    try:
        import torch
        import transformers
    except ImportError:
        print("peers.py needs PyTorch and transformers: pip install -e '.[peers]'",
              file=sys.stderr)
        return 2

    rows = []
    for kind, peer in (("vivit_st", "HF VivitForVideoClassification"),
                       ("timesformer_divided", "HF TimesformerForVideoClassification")):
        cfg = family_config(kind, frames=args.frames, size=args.size, batch=args.batch,
                            layers=args.layers, overrides=("--config.model.drop_path=0.0",
                                                           "--config.dataset.num_classes=400"))
        ours = common.throughput(cfg, calls=args.calls, repeats=args.repeats)
        theirs = torch_rates(hf_model(kind, frames=args.frames, size=args.size,
                                      layers=args.layers),
                             frames=args.frames, size=args.size, batch=args.batch,
                             calls=args.calls, repeats=args.repeats)
        for part in ("forward", "train"):
            ratio = ours[f"{part}_clips_per_s"] / theirs[f"{part}_clips_per_s"]
            rows.append({"model": kind, "part": part, "peer": peer,
                         "ours_clips_per_s": ours[f"{part}_clips_per_s"],
                         "peer_clips_per_s": theirs[f"{part}_clips_per_s"], "ratio": ratio,
                         "target_miss": max(0.0, TARGET - ratio),
                         "input": [args.frames, args.size, args.size], "batch": args.batch})
        print(f"[{kind}] done", file=sys.stderr, flush=True)
    meta = {**common.machine(), "torch": torch.__version__,
            "transformers": transformers.__version__}
    print(f"target: ours >= {TARGET}× the peer (torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    common.print_table(rows, [("model", "model", "s"), ("part", "part", "s"),
                              ("ours_clips_per_s", "ours clips/s", ".2f"),
                              ("peer_clips_per_s", "peer clips/s", ".2f"),
                              ("ratio", "ours/peer", ".2f")], meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
