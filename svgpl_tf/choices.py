"""The values the configuration's options accept: one home for each list.

`svgpl_tf.config` validates against these, and the models, losses, data and
distribution code that implement them import them from here, so importing
the configuration needs neither TensorFlow nor Keras.
"""

# Frame sizes the two backbones are defined for.
SUPPORTED_IMAGE_SIZES = (64,)
# Frame encoder/decoder pairs (`models.backbones.make_backbone`).
BACKBONES = ("dcgan", "vgg")
# Priors over z_t: learned (SVG-LP) or fixed N(0, I) (SVG-FP).
PRIORS = ("learned", "fixed")
# Weight initialisations (`models.init`).
INITS = ("reference", "keras")
# Training-mode BatchNorm statistics of the encoder and decoder.
BATCHNORM_STATS = ("per_step", "pooled")
# BatchNorm statistics while sampling (`SVGModel.sample`): the moving
# averages; batch statistics over the sequences sampled together (the
# reference's generation); batch statistics of each sequence alone.
SAMPLING_BATCHNORM = ("moving", "batch", "sequence")
# LPIPS networks of the evaluation (--lpips; `evaluation.lpips`), or none.
LPIPS_CHOICES = ("alex", "vgg", "off")
# How the best (worst) of N samples is chosen (--best_by): one sample by mean
# SSIM for every metric (SVG's code), or each metric's own (SRVP's, SLAMP's).
BEST_BY = ("ssim", "each")
# Distances between VGG16 feature maps in the perceptual term.
DISTANCES = ("l1", "l2", "squared_l2")
# Pixel reconstruction terms (--pixel_loss): the paper's MSE, or binary cross-entropy.
PIXEL_LOSSES = ("mse", "bce")
# The 13 convolutions of VGG16, in network order (Keras layer names).
VGG16_CONV_LAYERS: tuple[str, ...] = (
    "block1_conv1",
    "block1_conv2",
    "block2_conv1",
    "block2_conv2",
    "block3_conv1",
    "block3_conv2",
    "block3_conv3",
    "block4_conv1",
    "block4_conv2",
    "block4_conv3",
    "block5_conv1",
    "block5_conv2",
    "block5_conv3",
)
# Sprite sources of SM-MNIST (`data.digits.load_sprites`).
SPRITE_SOURCES = ("procedural", "mnist", "mnist5k")
# Side length of every SM-MNIST sprite in pixels, and the sprite splits.
SPRITE_SIZE = 32
SPRITE_SPLITS = ("train", "test")
# Values of --strategy (`distribute.make_strategy`).
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# Frames per clip of the BAIR datasets.
BAIR_FRAMES = 30
# How frames of another size become the model's (--resize).
RESIZE_MODES = ("crop", "pad", "stretch")
