"""Loss terms: pixel MSE, the VGG16 perceptual term and the KL term."""

from svgpl_tf.losses.base import ReconstructionTerm
from svgpl_tf.losses.kl import kl_divergence
from svgpl_tf.losses.pixel import PixelMSE

__all__ = ["PixelMSE", "ReconstructionTerm", "kl_divergence"]
