"""Floating-point operation counts of SVG training steps and sampling.

FLOPs are counted from the layers' shapes, the convention of most model FLOP
counts (and of `tf.compat.v1.profiler` for convolutions and matrix products):

* a convolution costs 2 * N * H_out * W_out * k_h * k_w * C_in * C_out
  (one multiply and one add per kernel tap, padding taps included);
* a transposed convolution costs 2 * N * H_in * W_in * k_h * k_w * C_in * C_out,
  the cost of the convolution whose input gradient it is;
* a dense layer costs 2 * N * in * out; an LSTM layer costs
  2 * N * (in + units) * 4 * units per time step;
* element-wise work (BatchNorm, activations, losses, optimizer) is not counted:
  it is a few FLOPs per activation, against hundreds per output of a
  convolution.

The convolutions of a module are read from the graph of one traced forward
pass of a single frame (their static shapes), so a count follows the layers
as they are; the LSTMs are counted from their sizes. Backpropagation costs
two forward passes per layer (input gradient and weight gradient), except
that no input gradient is computed for a layer whose input is data (the
encoder's first convolution) and no weight gradient for frozen weights (the
perceptual VGG16).

Example:
    >>> model = SVGModel(g_dim=16, nf=8, z_dim=4, rnn_size=16, n_past=2)
    >>> model.build()
    >>> train_step_flops(model, batch=2, seq_len=4).total > 0
    True
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from svgpl_tf.models.svg import SVGModel

# The counting convention, in one line (written next to benchmark results).
CONVENTION = (
    "2 FLOPs per multiply-add of convolutions (2*N*H_out*W_out*kh*kw*C_in*C_out, "
    "padding taps included), transposed convolutions (2*N*H_in*W_in*kh*kw*C_in*C_out), "
    "dense and LSTM layers (2*(in+units)*4*units per step), read from the traced "
    "layers' static shapes; backward = 2x forward, less the input gradient of layers "
    "reading data and the weight gradient of frozen VGG16; element-wise ops not counted"
)
# Graph op types whose FLOPs are counted.
COUNTED_OPS = ("Conv2D", "Conv2DBackpropInput", "MatMul", "BatchMatMulV2")


def op_flops(op: tf.Operation) -> int:
    """FLOPs of one graph op from its static shapes; 0 for ops not counted.

    Args:
        op: an op of a traced graph with fully known static shapes.

    Raises:
        ValueError: a counted op with an unknown static shape.
    """
    if op.type not in COUNTED_OPS:
        return 0
    out = op.outputs[0].shape
    if not out.is_fully_defined():
        raise ValueError(f"{op.name} ({op.type}) has no static shape: {out}.")
    if op.type == "Conv2D":
        kh, kw, c_in, _ = op.inputs[1].shape  # filter [kh, kw, in, out]
        return 2 * out.num_elements() * kh * kw * c_in
    if op.type == "Conv2DBackpropInput":  # transposed convolution
        kh, kw, _, c_in = op.inputs[1].shape  # filter [kh, kw, out, in]
        grad = op.inputs[2].shape  # [n, h_in, w_in, c_in]
        return 2 * grad.num_elements() * kh * kw * out[-1]
    a = op.inputs[0].shape  # MatMul / BatchMatMulV2
    k = a[-2] if op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x") else a[-1]
    return 2 * out.num_elements() * k


@dataclasses.dataclass(frozen=True)
class ForwardCount:
    """FLOPs of one forward pass of a module on one frame.

    Attributes:
        total: all counted ops.
        first: the ops that read the module's input directly (a convolution
            of the input frame); their input gradient is not needed when the
            input is data.
        ops: `(op name, op type, flops)` of every counted op, in graph order.
    """

    total: int
    first: int
    ops: tuple[tuple[str, str, int], ...]


def traced_forward_flops(fn, *specs: tf.TensorSpec) -> ForwardCount:
    """Counts the FLOPs of `fn(*inputs)` traced on inputs of the given specs.

    Args:
        fn: a function of tensors (e.g. a Keras layer call).
        *specs: one fully defined `tf.TensorSpec` (or a list of them) per
            argument.

    Returns:
        A `ForwardCount`.
    """
    graph = tf.function(fn, autograph=False).get_concrete_function(*specs).graph
    inputs = {id(t) for t in graph.inputs}
    ops, first = [], 0
    for op in graph.get_operations():
        flops = op_flops(op)
        if flops:
            ops.append((op.name, op.type, flops))
            # The data input of a first conv may reach it through a cast.
            sources = [t.op.inputs[0] if t.op.type == "Cast" else t for t in op.inputs]
            if any(id(t) in inputs for t in sources):
                first += flops
    return ForwardCount(sum(f for _, _, f in ops), first, tuple(ops))


def lstm_stack_flops(module, rows: int = 1) -> int:
    """FLOPs of one time step of a `FramePredictor` or `GaussianLSTM` on `rows` rows."""
    units = module.units
    flops = 2 * module.input_dim * units  # embedding
    flops += module.num_layers * 2 * (units + units) * 4 * units  # LSTM gates
    if hasattr(module, "head"):
        flops += 2 * units * module.output_dim
    else:
        flops += 2 * 2 * units * module.z_dim  # mu and logvar heads
    return rows * flops


@dataclasses.dataclass(frozen=True)
class ModelCounts:
    """Per-frame forward FLOPs of the convolutional modules of a model.

    Attributes:
        encoder: one frame through the encoder.
        decoder: one frame through the plain decoder (skips concatenated).
        decoder_main: one frame through `decoder.decode` (the skip terms
            given).
        skip_terms: one frame's skip maps through `decoder.skip_terms`;
            `decoder_main + skip_terms == decoder`.
        vgg: one frame through the perceptual VGG16 (0 without that term).
    """

    encoder: ForwardCount
    decoder: int
    decoder_main: int
    skip_terms: int
    vgg: int


def model_counts(model: SVGModel) -> ModelCounts:
    """Traces each convolutional module of a built `model` on one frame."""
    s, c, g = model.image_size, model.channels, model.g_dim
    frame = tf.TensorSpec([1, s, s, c], tf.float32)
    encoder = traced_forward_flops(lambda x: model.encoder(x, training=False), frame)
    _, skips = model.encoder(tf.zeros([1, s, s, c]), training=False)
    skip_specs = [tf.TensorSpec(t.shape, t.dtype) for t in skips]
    terms = model.decoder.skip_terms(skips)
    term_specs = [tf.TensorSpec(t.shape, t.dtype) for t in terms]
    g_spec = tf.TensorSpec([1, g], tf.float32)
    decoder = traced_forward_flops(
        lambda h, sk: model.decoder(h, sk, training=False), g_spec, skip_specs
    )
    main = traced_forward_flops(
        lambda h, t: model.decoder.decode(h, t, training=False), g_spec, term_specs
    )
    skip = traced_forward_flops(model.decoder.skip_terms, skip_specs)
    vgg = 0
    for term in model.reconstruction_terms:
        extractor = getattr(term, "feature_extractor", None)
        if extractor is not None:
            rgb = tf.TensorSpec([1, s, s, 3], tf.float32)
            vgg += traced_forward_flops(extractor, rgb).total
    return ModelCounts(encoder, decoder.total, main.total, skip.total, vgg)


@dataclasses.dataclass(frozen=True)
class StepFlops:
    """FLOPs of one training step, or of one sampling call.

    Attributes:
        total: everything counted.
        forward: the model's forward pass (training) or the whole call
            (sampling).
        backward: input and weight gradients (0 for sampling).
        perceptual: the VGG16 passes of the perceptual term (training).
        plain_total: what the plain path (`precompute_skips=False`) computes.
        breakdown: FLOPs by part, for the report.
    """

    total: int
    forward: int
    backward: int
    perceptual: int
    plain_total: int
    breakdown: dict


def _lstm_modules(model: SVGModel) -> list:
    mods = [model.frame_predictor, model.posterior]
    return mods + ([model.prior] if model.prior is not None else [])


def train_step_flops(
    model: SVGModel, batch: int, seq_len: int, counts: ModelCounts | None = None
) -> StepFlops:
    """FLOPs of one `train_step` on a batch `[batch, seq_len, h, w, c]`.

    Forward: every frame encoded once, the three LSTM modules over the
    seq_len - 1 steps, the decoder on every predicted frame (its skip terms
    once per source frame with `precompute_skips`). Backward: twice the
    forward, less the input gradient of the encoder's first convolution.
    Perceptual term: VGG16 forward on the target frames, forward and input
    gradient on the predicted frames (frozen weights: no weight gradient).
    With `feedback_rate` > 0, a first forward pass and the encoding of the
    fed-back frames (`teacher_forcing.fed_back_encodings`).
    """
    counts = counts or model_counts(model)
    steps = seq_len - 1
    frames, predicted = batch * seq_len, batch * steps
    sources = steps if model.last_frame_skip else min(model.n_past, steps)
    encoder = frames * counts.encoder.total
    lstms = sum(lstm_stack_flops(m, predicted) for m in _lstm_modules(model))
    decoder_plain = predicted * counts.decoder
    if model.precompute_skips:
        decoder = predicted * counts.decoder_main + batch * sources * counts.skip_terms
    else:
        decoder = decoder_plain
    # With feedback_rate > 0: a first forward pass without gradient, then the
    # predictions of frames n_past..T-2 encoded beside the true frames.
    fed = batch * max(steps - model.n_past, 0) if model.feedback_rate > 0 else 0
    first_pass = encoder + lstms + decoder if fed else 0
    first_plain = encoder + lstms + decoder_plain if fed else 0
    encoded = frames + fed
    encoder = encoded * counts.encoder.total
    forward = encoder + lstms + decoder
    backward = 2 * forward - encoded * counts.encoder.first
    perceptual = 3 * predicted * counts.vgg
    total = forward + backward + perceptual + first_pass
    plain_forward = encoder + lstms + decoder_plain
    plain_backward = 2 * plain_forward - encoded * counts.encoder.first
    plain_total = plain_forward + plain_backward + perceptual + first_plain
    breakdown = {
        "encoder_forward": encoder,
        "decoder_forward": decoder,
        "lstm_forward": lstms,
        "backward": backward,
        "perceptual_vgg16": perceptual,
        "feedback_first_pass": first_pass,
    }
    return StepFlops(total, forward, backward, perceptual, plain_total, breakdown)


def sample_flops(
    model: SVGModel,
    batch: int,
    n_ctx: int,
    horizon: int,
    num_samples: int,
    counts: ModelCounts | None = None,
) -> StepFlops:
    """FLOPs of one `model.sample(context [batch, n_ctx, ...], horizon, num_samples)`.

    The context is encoded once per sequence, the posterior and prior read it
    once per sequence; every predicted frame but the last is encoded again.
    """
    counts = counts or model_counts(model)
    rows = batch * num_samples
    encoder = (batch * n_ctx + rows * (horizon - 1)) * counts.encoder.total
    lstms = lstm_stack_flops(model.posterior, batch * (n_ctx - 1))
    lstms += lstm_stack_flops(model.frame_predictor, rows * (n_ctx - 1 + horizon))
    if model.prior is not None:
        lstms += lstm_stack_flops(model.prior, batch * (n_ctx - 1) + rows * horizon)
    decoder_plain = rows * horizon * counts.decoder
    if not model.precompute_skips:
        decoder = decoder_plain
    elif model.last_frame_skip:  # the first step's terms once per sequence, then per row
        decoder = rows * horizon * counts.decoder_main
        decoder += (batch + rows * (horizon - 1)) * counts.skip_terms
    else:  # the last context frame's terms once per sequence
        decoder = rows * horizon * counts.decoder_main + batch * counts.skip_terms
    total = encoder + lstms + decoder
    breakdown = {"encoder": encoder, "decoder": decoder, "lstm": lstms}
    plain_total = encoder + lstms + decoder_plain
    return StepFlops(total, total, 0, 0, plain_total, breakdown)
