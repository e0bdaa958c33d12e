"""Moves weights between the JAX mirror and svgpl_tf.

    # a config.json and the training sprites for train_jax.py
    python experiments/jax_mirror/weights_bridge.py prepare FLAGFILE DIR
    # train_jax.py's weights_*.npz -> a folder that svgpl-evaluate,
    # svgpl-predict and svgpl-export take as --workdir
    python experiments/jax_mirror/weights_bridge.py import CONFIG.json NPZ_DIR OUT_DIR
    # an svgpl_tf weights folder (a shipped model) -> weights_*.npz, from
    # which train_jax.py --init_dir continues
    python experiments/jax_mirror/weights_bridge.py export FOLDER NPZ_DIR

The weights keep their Keras variable paths and layouts in the mirror, so
importing is an assignment per variable; every variable of the model must be
in the files, and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from svgpl_tf import runs
from svgpl_tf.config import Config
from svgpl_tf.data import mnist
from svgpl_tf.flags import config_from_flagfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_jax import read_weights, save  # noqa: E402  (the mirror's files, NumPy only)

PREFIX = "svg_model"  # svg_jax.PREFIX, without importing JAX here


def mirror_path(var) -> str:
    """The mirror's key of a Keras variable: its path under the mirror's model
    name (Keras numbers later models' names: svg_model_1/...)."""
    return f"{PREFIX}/{var.path.split('/', 1)[1]}"


def assign(model, arrays: dict[str, np.ndarray]) -> None:
    """Sets every variable of `model` from `arrays`, keyed by the mirror's paths."""
    names = {mirror_path(v): v for v in model.weights}
    missing, extra = sorted(set(names) - set(arrays)), sorted(set(arrays) - set(names))
    if missing or extra:
        raise ValueError(
            f"weights do not match the model: missing {missing[:3]}, extra {extra[:3]}"
        )
    for path, var in names.items():
        if tuple(arrays[path].shape) != tuple(var.shape):
            raise ValueError(f"{path}: shape {arrays[path].shape}, the model's {tuple(var.shape)}")
        var.assign(arrays[path])


def export_weights(folder: str, npz_dir: str) -> int:
    """Writes `folder`'s weights as train_jax.py's `weights_*.npz` and
    `progress.json` (its step); returns the step."""
    model, _, step = runs.restore_model(folder)
    arrays = {mirror_path(v): v.numpy() for v in model.weights}
    os.makedirs(npz_dir, exist_ok=True)
    save(npz_dir, arrays, {}, {"steps": step, "exported_from": folder})
    return step


def prepare(flagfile: str, out_dir: str) -> None:
    """Writes `config.json` (float32) and `sprites.npz` (the training digits)."""
    config = config_from_flagfile(flagfile)
    if config.sprites != "mnist5k":
        raise ValueError("prepare writes the mnist5k training digits; use --sprites=mnist5k")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2, sort_keys=True)
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
    e = sub.add_parser("export")
    e.add_argument("folder")
    e.add_argument("npz_dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare(args.flagfile, args.out_dir)
        elif args.command == "export":
            print(f"step {export_weights(args.folder, args.npz_dir)} -> {args.npz_dir}")
        else:
            print(import_weights(args.config, args.npz_dir, args.out_dir))
    except (OSError, ValueError) as e:
        sys.exit(f"import_weights: {e}")


if __name__ == "__main__":
    main()
