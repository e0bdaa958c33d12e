"""Loss terms: pixel MSE (or BCE), the VGG16 perceptual term and the KL term."""

from svgpl_tf.losses.base import ReconstructionTerm
from svgpl_tf.losses.kl import kl_divergence
from svgpl_tf.losses.pixel import PixelBCE, PixelMSE

__all__ = ["PixelBCE", "PixelMSE", "ReconstructionTerm", "kl_divergence"]
