"""Trains SVG-LP on SM-MNIST with the JAX mirror (svg_jax.py) for a wall-clock budget.

For a GPU machine that has JAX and NumPy but not TensorFlow. It reads a
`config.json` written by `svgpl_tf` (`make_config.py`), draws the training
batches of `svgpl_tf.data.sprite_motion` (batch i of seed s is
`render_batch(s, i, ...)`, as `svgpl_tf`'s own stream draws them) from the
sprites in an `.npz`, trains until the budget is spent, and writes the weights
as `weights_*.npz` (each under 15 MB) and `progress.json` into `--out`, also
every `--save_every_s` seconds. `import_weights.py` turns them into an
`svgpl_tf` weights folder.

    PYTHONPATH=. python experiments/jax_mirror/train_jax.py \\
        --config=CONFIG.json --sprites=SPRITES.npz --out=DIR --budget_s=540
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import multiprocessing
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from svgpl_tf.data.sprite_motion import render_batch  # noqa: E402

CHUNK_BYTES = 15_000_000
_SPRITES = None


def _init_worker(path):
    global _SPRITES
    _SPRITES = np.load(path)["sprites"]


def _batch(args):
    seed, index, shape, num_sprites = args
    return index, render_batch(seed, index, shape, _SPRITES, num_sprites)


class _InProcess:
    """`Pool.apply_async` in the calling process (`--workers=0`)."""

    class _Done:
        def __init__(self, value):
            self.value = value

        def get(self):
            return self.value

    def apply_async(self, fn, args):
        return self._Done(fn(*args))

    def terminate(self):
        pass


def save(out, params, stats, progress):
    """Writes params and stats into `weights_*.npz` of at most CHUNK_BYTES each."""
    arrays = {}
    for k, v in {**params, **stats}.items():
        v = np.asarray(v)
        parts = -(-v.nbytes // CHUNK_BYTES)
        if parts == 1:
            arrays[k] = v
        else:  # larger than a chunk: parts along the first axis, `path::part{j}`
            for j, part in enumerate(np.array_split(v, parts, axis=0)):
                arrays[f"{k}::part{j}"] = part
    chunks, current, size = [], {}, 0
    for key in sorted(arrays):
        if current and size + arrays[key].nbytes > CHUNK_BYTES:
            chunks.append(current)
            current, size = {}, 0
        current[key] = arrays[key]
        size += arrays[key].nbytes
    chunks.append(current)
    for old in os.listdir(out):
        if old.startswith("weights_"):
            os.remove(os.path.join(out, old))
    for i, chunk in enumerate(chunks):
        # np.savez keys may not hold '/': store the paths beside the arrays.
        np.savez(
            os.path.join(out, f"weights_{i}.npz"),
            paths=np.array(list(chunk)),
            **{f"a{j}": a for j, a in enumerate(chunk.values())},
        )
    with open(os.path.join(out, "progress.json"), "w") as f:
        json.dump(progress, f, indent=1)


def read_weights(npz_dir: str) -> dict[str, np.ndarray]:
    """`{path: array}` of every `weights_*.npz` that `save` wrote into `npz_dir`."""
    files = sorted(glob.glob(os.path.join(npz_dir, "weights_*.npz")))
    if not files:
        raise FileNotFoundError(f"no weights_*.npz in {npz_dir}: give train_jax.py's --out folder")
    arrays = {}
    for name in files:
        with np.load(name) as data:
            for j, path in enumerate(data["paths"]):
                arrays[str(path)] = data[f"a{j}"]
    parts = [k for k in arrays if "::part" in k]  # a large array in parts along axis 0
    for key in {k.split("::")[0] for k in parts}:
        mine = sorted(
            (k for k in parts if k.startswith(key + "::")),
            key=lambda k: int(k.rsplit("part", 1)[1]),
        )
        arrays[key] = np.concatenate([arrays.pop(k) for k in mine], axis=0)
    return arrays


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--sprites", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--budget_s", type=float, required=True, help="wall time from start")
    parser.add_argument("--save_every_s", type=float, default=120.0)
    parser.add_argument("--log_every", type=int, default=100)
    parser.add_argument(
        "--workers",
        type=int,
        default=max(1, (os.cpu_count() or 2) - 2),
        help="processes drawing batches (0: none, in this process; a process that "
        "has already started JAX must not fork)",
    )
    parser.add_argument("--max_steps", type=int, default=0, help="0: until the budget")
    parser.add_argument("--require_gpu", action="store_true")
    parser.add_argument(
        "--init_dir",
        default="",
        help="continue from these weights_*.npz (a fresh Adam, as svgpl-train --init_from); "
        "the data stream and the noise continue from its progress.json's step",
    )
    args = parser.parse_args(argv)
    start = time.time()
    with open(args.config) as f:
        config = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    shape = (config["batch_size"], config["n_past"] + config["n_future"], 64, 64, 1)
    seed = config["seed"]
    num_sprites = config.get("num_sprites", 2)
    # Workers fork before JAX starts its threads; none: batches drawn in this process.
    if args.workers:
        pool = multiprocessing.get_context("fork").Pool(args.workers, _init_worker, (args.sprites,))
    else:
        _init_worker(args.sprites)
        pool = _InProcess()

    import jax
    import jax.numpy as jnp
    import svg_jax

    devices = jax.devices()
    print("devices:", devices, "jax", jax.__version__, flush=True)
    if args.require_gpu and devices[0].platform != "gpu":
        sys.exit("no GPU visible to JAX: stopping before any training")
    spec = svg_jax.ModelSpec.from_config(config)
    params, stats = svg_jax.init_params(seed, spec)
    first_step = 0
    params = {k: jnp.asarray(v) for k, v in params.items()}
    stats = {k: jnp.asarray(v) for k, v in stats.items()}
    if args.init_dir:
        arrays = read_weights(args.init_dir)
        if set(arrays) != set(params) | set(stats):
            sys.exit(f"{args.init_dir} does not hold this config's weights")
        params = {k: jnp.asarray(arrays[k]) for k in params}
        stats = {k: jnp.asarray(arrays[k]) for k in stats}
        with open(os.path.join(args.init_dir, "progress.json")) as f:
            first_step = json.load(f)["steps"]
        print(f"continuing from {args.init_dir} at step {first_step}", flush=True)
    opt = svg_jax.adam_init(params)
    step_fn = svg_jax.make_train_step(
        spec, config["learning_rate"], config["beta_1"], config["adam_epsilon"]
    )
    noise_key = jax.random.key(seed + 1)
    eps_shape = (shape[0], shape[1] - 1, spec.z_dim)

    pending = collections.deque()
    next_index = first_step

    def refill():
        nonlocal next_index
        while len(pending) < 4 * max(args.workers, 1):
            pending.append(pool.apply_async(_batch, ((seed, next_index, shape, num_sprites),)))
            next_index += 1

    log, step, last_save, train_start = [], first_step, time.time(), None
    while True:
        refill()
        index, x = pending.popleft().get()
        assert index == step
        eps = jax.random.normal(jax.random.fold_in(noise_key, step), eps_shape)
        params, stats, opt, terms = step_fn(params, stats, opt, jnp.asarray(x), eps)
        step += 1
        if step == first_step + 1:
            jax.block_until_ready(terms)
            train_start = time.time()
            print(f"compiled in {train_start - start:.1f} s from start", flush=True)
        now = time.time()
        if step % args.log_every == 0:
            row = {k: float(v) for k, v in terms.items()}
            row.update(step=step, seconds=round(now - train_start, 1))
            log.append(row)
            print(json.dumps(row), flush=True)
        done = now - start > args.budget_s or (
            args.max_steps and step - first_step >= args.max_steps
        )
        if done or now - last_save > args.save_every_s:
            jax.block_until_ready(params)
            progress = {
                "steps": step,
                "first_step": first_step,
                "init_dir": args.init_dir,
                "sequences": (step - first_step) * shape[0],
                "train_seconds": round(time.time() - train_start, 1),
                "steps_per_second_after_compile": round(
                    (step - first_step - 1) / max(time.time() - train_start, 1e-9), 3
                ),
                "device": str(devices[0].device_kind),
                "jax": jax.__version__,
                "log": log,
            }
            save(args.out, params, stats, progress)
            last_save = time.time()
            print(f"saved step {step}", flush=True)
        if done:
            break
    pool.terminate()


if __name__ == "__main__":
    main()
