"""vivit_jax: video transformers (ViViT, TimeSformer, VidTr, STAT) in JAX/Flax NNX."""
from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "jax>=0.9",
    "flax>=0.12,<0.13",  # NNX API as of 0.12 (Variable metadata, var[...] access).
    "optax>=0.2.5",
    "orbax-checkpoint>=0.11",
    "ml-collections>=1.0",
    "tensorflow-cpu>=2.18",  # tf.data input pipeline only; JAX does the compute.
    "tensorflow-datasets>=4.9",
    "einops>=0.8",
    "av>=12",  # PyAV: video decoding for vivit-prepare / vivit-predict.
    "numpy>=1.26",
    "pillow>=10",
    "tqdm>=4.66",
    "tensorboardX>=2.6",  # TensorBoard event files (tensorflow-cpu lacks the TB backend).
    "matplotlib>=3.8",
    "safetensors>=0.4",  # timm / Hugging Face ViT checkpoints for vivit-convert.
]

EXTRAS = {
    "test": ["pytest>=8", "pytest-xdist>=3"],
    # Accelerator builds of jax; install one instead of the CPU default.
    "cuda": ["jax[cuda12]>=0.9"],  # CUDA 12 wheels (any driver >= 525).
    "cuda13": ["jax[cuda13]>=0.10"],  # CUDA 13 wheels (driver >= 580; Blackwell).
    "tpu": ["jax[tpu]>=0.9"],
    "peers": ["torch==2.13.0", "transformers>=4.40"],
}

setup(
    name="vivit_jax",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.11",  # jax >= 0.9 needs Python >= 3.11.
    packages=find_packages(include=["vivit_jax", "vivit_jax.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": [
            "vivit-train=vivit_jax.main:run_train",
            "vivit-profile=vivit_jax.evaluate.profile:main",
            "vivit-prepare=vivit_jax.data.prepare:main",
            "vivit-eval=vivit_jax.evaluate.multiview:main",
            "vivit-ensemble=vivit_jax.evaluate.ensemble:main",
            "vivit-compare=vivit_jax.evaluate.compare:main",
            "vivit-predict=vivit_jax.evaluate.predict:main",
            "vivit-rollout=vivit_jax.evaluate.rollout:main",
            "vivit-convert=vivit_jax.convert.convert:main",
            "vivit-export=vivit_jax.evaluate.export:main",
        ],
    },
)
