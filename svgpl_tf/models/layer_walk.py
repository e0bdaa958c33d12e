"""Every layer inside a Keras layer, found through public attributes only.

`sublayers(layer)` walks what Keras's own (private) `_flatten_layers` walks,
in the same order (a Sequential's `InputLayer` aside), but reads each layer's
children from public places: a model's `layers`, else the layer's public
attributes that hold a layer, or a list, tuple or dict of them, in the order
they were first set. The order matters: `svgpl_tf.models.init` draws its seeded weights
layer by layer in it.
"""

from __future__ import annotations

import collections

import keras


def children(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The direct sublayers of `layer`, in the order they were added or set.

    Args:
        layer: any Keras layer or model.

    Returns:
        A model's `layers` (Sequential, functional or subclassed); for any
        other layer, the layers held by its public attributes (directly or
        in a list, tuple or dict).
    """
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    found = []
    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        if isinstance(value, dict):
            value = list(value.values())
        items = value if isinstance(value, list | tuple) else [value]
        found.extend(item for item in items if isinstance(item, keras.layers.Layer))
    return found


def sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """Every layer inside `layer` (not itself), each once.

    The order is Keras's: `layer`'s children in order, each one followed by
    its own sublayers, whose children are taken last to first at every level.

    Args:
        layer: any Keras layer or model.

    Returns:
        The layers, depth first.

    Example:
        >>> block = keras.Sequential([keras.layers.Dense(2), keras.layers.ReLU()])
        >>> [type(x).__name__ for x in sublayers(block)]
        ['Dense', 'ReLU']
    """
    out, seen = [], set()
    queue = collections.deque(children(layer))
    while queue:
        item = queue.popleft()
        if id(item) in seen:
            continue
        seen.add(id(item))
        out.append(item)
        queue.extendleft(children(item))
    return out
