"""Loss terms: pixel MSE (or BCE, or L1), the VGG16 perceptual term, an optional SSIM term
and the KL term."""

from svgpl_tf.losses.base import ReconstructionTerm
from svgpl_tf.losses.kl import kl_divergence
from svgpl_tf.losses.pixel import PixelBCE, PixelL1, PixelMSE

__all__ = ["PixelBCE", "PixelL1", "PixelMSE", "ReconstructionTerm", "kl_divergence"]
