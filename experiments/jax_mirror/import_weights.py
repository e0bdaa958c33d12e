"""Turns the JAX mirror's weights into an svgpl_tf weights folder, and back.

    # a config.json and the training sprites for train_jax.py
    python experiments/jax_mirror/import_weights.py prepare FLAGFILE DIR
    # train_jax.py's weights_*.npz -> a folder that svgpl-evaluate,
    # svgpl-predict and svgpl-export take as --workdir
    python experiments/jax_mirror/import_weights.py import CONFIG.json NPZ_DIR OUT_DIR

The weights keep their Keras variable paths and layouts in the mirror, so
importing is an assignment per variable; every variable of the model must be
in the files, and nothing else.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

from svgpl_tf import runs
from svgpl_tf.config import Config
from svgpl_tf.data import mnist
from svgpl_tf.flags import config_from_flagfile

PREFIX = "svg_model"  # svg_jax.PREFIX, without importing JAX here


def read_weights(npz_dir: str) -> dict[str, np.ndarray]:
    """`{path: array}` of every `weights_*.npz` in `npz_dir`."""
    files = sorted(glob.glob(os.path.join(npz_dir, "weights_*.npz")))
    if not files:
        raise FileNotFoundError(f"no weights_*.npz in {npz_dir}: give train_jax.py's --out folder")
    arrays = {}
    for name in files:
        with np.load(name) as data:
            for j, path in enumerate(data["paths"]):
                arrays[str(path)] = data[f"a{j}"]
    parts = sorted(k for k in arrays if "::part" in k)  # a large array in parts along axis 0
    for key in {k.split("::")[0] for k in parts}:
        mine = sorted((k for k in parts if k.startswith(key + "::")), key=lambda k: int(k.rsplit("part", 1)[1]))
        arrays[key] = np.concatenate([arrays.pop(k) for k in mine], axis=0)
    return arrays


def assign(model, arrays: dict[str, np.ndarray]) -> None:
    """Sets every variable of `model` from `arrays`, keyed by the mirror's paths."""
    names = {f"{PREFIX}/{v.path.split('/', 1)[1]}": v for v in model.weights}
    missing, extra = sorted(set(names) - set(arrays)), sorted(set(arrays) - set(names))
    if missing or extra:
        raise ValueError(f"weights do not match the model: missing {missing[:3]}, extra {extra[:3]}")
    for path, var in names.items():
        if tuple(arrays[path].shape) != tuple(var.shape):
            raise ValueError(f"{path}: shape {arrays[path].shape}, the model's {tuple(var.shape)}")
        var.assign(arrays[path])


def prepare(flagfile: str, out_dir: str) -> None:
    """Writes `config.json` (float32) and `sprites.npz` (the training digits)."""
    config = config_from_flagfile(flagfile)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2, sort_keys=True)
    if config.sprites != "mnist5k":
        raise ValueError("prepare writes the mnist5k training digits; use --sprites=mnist5k")
    np.savez_compressed(
        os.path.join(out_dir, "sprites.npz"), sprites=mnist.load_mnist5k_sprites("train")
    )


def import_weights(config_path: str, npz_dir: str, out_dir: str) -> str:
    """Writes the weights folder; returns its checkpoint path."""
    with open(config_path) as f:
        config = Config.from_dict(json.load(f))
    with open(os.path.join(npz_dir, "progress.json")) as f:
        steps = json.load(f)["steps"]
    model = runs.build_model(config, with_losses=False)
    assign(model, read_weights(npz_dir))
    return runs.save_weights_only(model, config, out_dir, steps)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("flagfile")
    p.add_argument("out_dir")
    i = sub.add_parser("import")
    i.add_argument("config")
    i.add_argument("npz_dir")
    i.add_argument("out_dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare(args.flagfile, args.out_dir)
        else:
            print(import_weights(args.config, args.npz_dir, args.out_dir))
    except (OSError, ValueError) as e:
        sys.exit(f"import_weights: {e}")


if __name__ == "__main__":
    main()
