"""Start video models from ViT checkpoints: readers, 2D→3D initialisers, `vivit-convert`.

- `readers.read_vit(path)`: vision_transformer / big_vision `.npz`, timm / Hugging Face
  `.safetensors` → one canonical form (`vit_layouts`: one declarative table per layout).
- `transfer.transfer(...)`: moves a source checkpoint into a fresh video model (central
  frame / filter inflation, position embeddings tiled or resized, head re-initialised).
- `convert.main`: the `vivit-convert` command; `init_from.load_init`: `config.init_from`.
"""
