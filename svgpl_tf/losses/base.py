"""The interface every reconstruction loss term implements.

The model's training loss (Eq. 1 of the SVG-PL paper) is

    loss = sum_k weight_k * term_k(x, x_hat) + beta * KL

where each reconstruction term compares the ground-truth frames with the
predicted frames of every step. A term is a plain callable object (not a
Keras layer, so whatever frozen network it holds is never tracked as model
state) that returns a dict of scalars: the entry named after the term is the
value that is weighted and optimised; any further entries (for example one per
VGG layer) are logged only.
"""

from __future__ import annotations

import abc

import tensorflow as tf


class ReconstructionTerm(abc.ABC):
    """A weighted reconstruction loss between target and predicted frames.

    Args:
        weight: multiplier of this term in the total loss.
        name: key of the term in the returned dict and in the logs.

    Subclasses implement `__call__(target, pred)` where both are float
    tensors `[batch, time, height, width, channels]` in [0, 1], and return
    `{name: scalar, ...}`. By convention the scalar is a per-frame mean that is
    summed over the time steps and averaged over the batch, the scaling of the
    reference SVG code that beta=1e-4 was tuned for.
    """

    def __init__(self, weight: float = 1.0, name: str = "recon"):
        self.weight = float(weight)
        self.name = name

    @abc.abstractmethod
    def __call__(self, target: tf.Tensor, pred: tf.Tensor) -> dict[str, tf.Tensor]:
        """Returns `{self.name: scalar, ...}` for frames `[b, t, h, w, c]`."""

    def get_config(self) -> dict:
        return {"weight": self.weight, "name": self.name}

    def metric_names(self) -> list[str]:
        """Names of every entry `__call__` returns, for the model's trackers."""
        return [self.name]
