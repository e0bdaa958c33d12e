"""The SVG model: encoder/decoder, frame predictor, posterior and prior.

`SVGModel` is SVG-LP (Denton & Fergus, 2018) with a composable reconstruction
loss, so that SVG-PL is SVG-LP plus the VGG16 perceptual term (Eq. 1-3 of the
SVG-PL paper) and SVG-FP is the same model with the fixed N(0, I) prior.

Training (teacher forcing, `train_step`) is batched wherever the maths allows:

1. every ground-truth frame x_1..x_T is encoded once, in one call over
   batch x time;
2. the posterior, the prior and the frame predictor run over the whole
   sequence: their inputs (h_{t-1}, h_t and z_t ~ q) are all known up front,
   so only the small LSTMs loop over time;
3. the decoder runs once over all T-1 predicted frames, each with the skip
   connections of the last context frame (or of the previous frame). With
   `precompute_skips` (the default) the skip maps' share of the decoder's
   convolutions is computed once per source frame (n_past frames, not T-1;
   see `svgpl_tf.models.skip_terms`) and added to every frame that uses it.
   These batched pieces are in `svgpl_tf.models.teacher_forcing`.

Generation (`sample`) is autoregressive: the context frames warm up the LSTMs
with z_t drawn from the posterior, then every future z_t comes from the prior
and every predicted frame is encoded again to predict the next one. The
context is encoded once per sequence (not once per sample), the posterior and
prior read it once per sequence too, and with `precompute_skips` the decoder's
skip share is computed once per sequence and broadcast over its samples and
steps. The warm-up, the loop and what is chosen before it (BatchNorm
statistics, skip decoding) are in `svgpl_tf.models.sampling`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from svgpl_tf.choices import BATCHNORM_STATS, FEEDBACK_Z, PRIORS
from svgpl_tf.losses import PixelMSE, ReconstructionTerm, kl_divergence
from svgpl_tf.models import sampling
from svgpl_tf.models.backbones import DEFAULT_NF, make_backbone
from svgpl_tf.models.init import module_seeds
from svgpl_tf.models.recurrent import FramePredictor, GaussianLSTM
from svgpl_tf.models.sampling import (
    checked_context,
    future_frames,
    sample_keys,
    sampling_groups,
    step_decoder,
    warm_up,
)
from svgpl_tf.models.teacher_forcing import (
    decode_shared,
    fed_back_encodings,
    fold_time,
    skip_sources,
    training_noise,
    unfold_time,
)


@keras.saving.register_keras_serializable(package="svgpl_tf")
class SVGModel(keras.Model):
    """Stochastic video generation with a learned (or fixed) prior.

    Args:
        backbone: frame encoder/decoder pair, `"dcgan"` or `"vgg"`.
        image_size: frame height and width (64).
        channels: frame channels (1 for SM-MNIST, 3 for BAIR).
        g_dim: size of the frame embedding.
        nf: base channel width of the backbone (64: the published one).
        z_dim: size of the latent variable z_t.
        rnn_size: width of every LSTM.
        predictor_rnn_layers: LSTM layers of the frame predictor.
        posterior_rnn_layers: LSTM layers of the inference network q.
        prior_rnn_layers: LSTM layers of the learned prior p.
        prior_type: `"learned"` (SVG-LP) or `"fixed"` (N(0, I), SVG-FP);
            `--prior` (the name `prior` is the learned prior's module).
        last_frame_skip: take decoder skips from the previous frame at every
            step instead of from the last context frame.
        n_past: number of context frames (sets which frame the skips come
            from during training).
        beta: weight of the KL term.
        seed: seed of the initial weights (each module's is drawn from it,
            see `module_seeds`) and of the training step's reparameterisation
            noise (see `teacher_forcing.training_noise`).
        reconstruction_terms: list of `ReconstructionTerm`; default pixel MSE.
        precompute_skips: compute the decoder's convolution of each skip map
            once per source frame and share it (see the module docstring);
            False runs the plain concatenation on every decoded frame. Both
            compute the same function, up to float rounding.
        fused_batchnorm: run the backbones' BatchNorm layers through the
            fused kernel where it applies (see `GroupedBatchNormalization`):
            faster, the same function up to float rounding; with several
            replicas the synchronised statistics are used instead, so one
            replica and several agree up to rounding.
        batchnorm_stats: training-mode BatchNorm statistics of the encoder
            and decoder. `"per_step"`: over the batch at each time step
            separately, as the reference's frame-by-frame loop computes them
            (still one batched call); `"pooled"`: over all batch x time frames.
        feedback_rate: in training, the probability that a predicted step's
            input frame (after the context) is the model's own teacher-forced
            prediction of it, as when it samples, instead of the ground truth
            (see `teacher_forcing.fed_back_inputs`); 0: the paper's teacher
            forcing.
        feedback_z: where those predictions draw z: `"posterior"` (from the
            true frame) or `"prior"` (from the learned prior, as when sampling).

    Example:
        >>> model = SVGModel(g_dim=16, z_dim=2, rnn_size=16, n_past=2)
        >>> x = tf.random.uniform([2, 4, 64, 64, 1], seed=0)
        >>> tuple(model(x).shape)  # teacher-forced predictions of frames 2..4
        (2, 3, 64, 64, 1)
        >>> tuple(model.sample(x[:, :2], horizon=3, num_samples=5, seed=0).shape)
        (2, 5, 3, 64, 64, 1)
    """

    def __init__(
        self,
        backbone: str = "dcgan",
        image_size: int = 64,
        channels: int = 1,
        g_dim: int = 128,
        nf: int = DEFAULT_NF,
        z_dim: int = 10,
        rnn_size: int = 256,
        predictor_rnn_layers: int = 2,
        posterior_rnn_layers: int = 1,
        prior_rnn_layers: int = 1,
        prior_type: str = "learned",
        last_frame_skip: bool = False,
        n_past: int = 5,
        beta: float = 1e-4,
        seed: int = 0,
        reconstruction_terms: list[ReconstructionTerm] | None = None,
        precompute_skips: bool = True,
        fused_batchnorm: bool = True,
        batchnorm_stats: str = "pooled",
        feedback_rate: float = 0.0,
        feedback_z: str = "posterior",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if prior_type not in PRIORS:
            raise ValueError(f"Unknown prior {prior_type!r}: choose one of {', '.join(PRIORS)}.")
        if n_past < 1:
            raise ValueError(f"n_past must be >= 1, got {n_past}.")
        if batchnorm_stats not in BATCHNORM_STATS:
            raise ValueError(
                f"Unknown batchnorm_stats {batchnorm_stats!r}: choose one of {BATCHNORM_STATS}."
            )
        self.backbone = backbone
        self.image_size = image_size
        self.channels = channels
        self.g_dim = g_dim
        self.nf = nf
        self.z_dim = z_dim
        self.rnn_size = rnn_size
        self.predictor_rnn_layers = predictor_rnn_layers
        self.posterior_rnn_layers = posterior_rnn_layers
        self.prior_rnn_layers = prior_rnn_layers
        self.prior_type = prior_type
        self.last_frame_skip = last_frame_skip
        self.n_past = n_past
        self.beta = beta
        self.seed = seed
        self.precompute_skips = precompute_skips
        self.fused_batchnorm = fused_batchnorm
        self.batchnorm_stats = batchnorm_stats
        if not 0 <= feedback_rate <= 1:
            raise ValueError(f"feedback_rate must be in [0, 1], got {feedback_rate}.")
        self.feedback_rate = feedback_rate
        if feedback_z not in FEEDBACK_Z:
            raise ValueError(f"Unknown feedback_z {feedback_z!r}: choose one of {FEEDBACK_Z}.")
        self.feedback_z = feedback_z
        terms = list(reconstruction_terms) if reconstruction_terms else [PixelMSE()]
        # A plain list of plain objects: Keras does not track them as state.
        self._terms = terms

        # Each module's initial weights come from its own seed, drawn from
        # `seed` in a fixed order; every module computes in the model's policy.
        policy = self.dtype_policy
        enc_seed, dec_seed, pred_seed, post_seed, prior_seed = module_seeds(seed, 5)
        self.encoder, self.decoder = make_backbone(
            backbone, g_dim, channels, nf, fused_batchnorm, (enc_seed, dec_seed), policy
        )
        self.frame_predictor = FramePredictor(
            g_dim + z_dim, g_dim, rnn_size, predictor_rnn_layers, pred_seed, dtype=policy,
            name="frame_predictor",
        )  # fmt: skip
        self.posterior = GaussianLSTM(
            g_dim, z_dim, rnn_size, posterior_rnn_layers, post_seed, dtype=policy, name="posterior"
        )
        self.prior = None
        if prior_type == "learned":
            self.prior = GaussianLSTM(
                g_dim, z_dim, rnn_size, prior_rnn_layers, prior_seed, dtype=policy, name="prior"
            )

        names = ["loss"] + [n for t in terms for n in t.metric_names()] + ["kl"]
        self._trackers = {n: keras.metrics.Mean(name=n) for n in names}

    # ------------------------------------------------------------------ build

    def build(self, input_shape=None):
        """Creates every variable; works for any batch size and length."""
        s, c = self.image_size, self.channels
        self.encoder.build((None, s, s, c))
        self.decoder.build((None, self.g_dim))
        self.frame_predictor.build((None, None, self.g_dim + self.z_dim))
        self.posterior.build((None, None, self.g_dim))
        if self.prior is not None:
            self.prior.build((None, None, self.g_dim))
        self.built = True

    @property
    def modules(self) -> dict[str, keras.layers.Layer]:
        """The trainable modules by name (a fixed prior has none)."""
        mods = {
            "encoder": self.encoder,
            "decoder": self.decoder,
            "frame_predictor": self.frame_predictor,
            "posterior": self.posterior,
        }
        if self.prior is not None:
            mods["prior"] = self.prior
        return mods

    @property
    def reconstruction_terms(self) -> list[ReconstructionTerm]:
        return list(self._terms)

    @property
    def metrics(self):
        return list(self._trackers.values())

    # ------------------------------------------------------- batched helpers

    def _groups(self, x, training):
        """BatchNorm groups of `x` `[b, t, ...]` folded: one per time step, or None."""
        if training and self.batchnorm_stats == "per_step":
            return tf.shape(x)[1]
        return None

    def encode_frames(self, x, training=None, groups=None):
        """x `[b, t, h, w, c]` -> (h `[b, t, g]`, four skips `[b, t, ...]`).

        `groups` (an `InferenceGroups` over the folded `[b, t]` rows) replaces
        the BatchNorm grouping that `training` implies."""
        batch = tf.shape(x)[0]
        groups = groups if groups is not None else self._groups(x, training)
        h, skips = self.encoder(fold_time(x), training=training, groups=groups)
        return unfold_time(h, batch), [unfold_time(s, batch) for s in skips]

    def decode_frames(self, g, skips, training=None):
        """g `[b, t, g]` and skips `[b, t, ...]` -> frames `[b, t, h, w, c]`."""
        batch = tf.shape(g)[0]
        groups = self._groups(g, training)
        x = self.decoder(
            fold_time(g), [fold_time(s) for s in skips], training=training, groups=groups
        )
        return unfold_time(x, batch)

    def _prior_sequence(self, h_prev, state=None):
        """Prior parameters over a sequence `[b, t, g]` -> mu, logvar `[b, t, z]`."""
        if self.prior is None:
            zeros = tf.zeros(tf.concat([tf.shape(h_prev)[:-1], [self.z_dim]], 0))
            return zeros, zeros, None
        return self.prior(h_prev, state)

    # --------------------------------------------------------------- forward

    def forward_train(self, x, training=None):
        """Teacher-forced pass over a clip (with `feedback_rate` > 0 in
        training, some inputs are its own predictions: `fed_back_encodings`).

        Args:
            x: frames `[batch, time, h, w, c]`, time >= 2, values in [0, 1].
            training: BatchNorm mode.

        Returns:
            `(x_pred, q, p)`: predictions of frames 2..T `[b, T-1, h, w, c]`,
            and the posterior and prior `tfp.distributions.Normal`s over z_2..z_T.
        """
        batch, steps = tf.shape(x)[0], tf.shape(x)[1] - 1
        optimizer = getattr(self, "optimizer", None)
        eps = training_noise(self.seed, optimizer, batch, steps, self.z_dim)  # [b, T-1, z]
        if training and self.feedback_rate > 0:
            h_in, h, skips = fed_back_encodings(self, x, eps, optimizer, training)
        else:
            h, skips = self.encode_frames(x, training=training)  # [b, T, g]
            h_in = h
        return self.predict_encoded(h_in, h, skips, eps, training)

    def predict_encoded(self, h_in, h, skips, eps, training, z_from="posterior"):
        """Posterior, prior, predictor and decoder: `forward_train`'s `(x_pred, q, p)`.

        Args:
            h_in: encodings of the input frames `[b, T, g]` (the last unused).
            h: encodings of the true frames `[b, T, g]`, read by the posterior.
            skips: the input frames' skip maps `[b, T, ...]`.
            eps: reparameterisation noise `[b, T-1, z]`.
            training: BatchNorm mode.
            z_from: `"posterior"` (Eq. 1's z_t ~ q) or `"prior"` (z_t ~ p, as
                when sampling).
        """
        h_prev, h_target = h_in[:, :-1], h[:, 1:]  # [b, T-1, g]
        mu_q, logvar_q, _ = self.posterior(h_target)  # [b, T-1, z]
        mu_p, logvar_p, _ = self._prior_sequence(h_prev)
        mu_z, logvar_z = (mu_p, logvar_p) if z_from == "prior" else (mu_q, logvar_q)
        z = GaussianLSTM.reparameterize(mu_z, logvar_z, eps)
        g_pred, _ = self.frame_predictor(tf.concat([h_prev, z], axis=-1))  # [b, T-1, g]
        lfs = self.last_frame_skip
        if self.precompute_skips:
            groups = self._groups(g_pred, training)
            x_pred = decode_shared(self.decoder, g_pred, skips, self.n_past, lfs, training, groups)
        else:
            idx = skip_sources(tf.shape(h_prev)[1], self.n_past, lfs)  # [T-1] each step's source
            step_skips = [tf.gather(s, idx, axis=1) for s in skips]
            x_pred = self.decode_frames(g_pred, step_skips, training=training)
        q = GaussianLSTM.distribution(mu_q, logvar_q)
        p = GaussianLSTM.distribution(mu_p, logvar_p)
        return x_pred, q, p

    def call(self, x, training=None):
        """Teacher-forced predictions of frames 2..T of `x` `[b, T, h, w, c]`."""
        return self.forward_train(x, training=training)[0]

    def compute_loss_terms(self, x, training=None):
        """Every loss term of Eq. 1 for a clip `[b, T, h, w, c]`.

        Returns a dict with `loss` (the optimised total), each reconstruction
        term (and its logged sub-terms) and `kl`.
        """
        x_pred, q, p = self.forward_train(x, training=training)
        target = tf.cast(x[:, 1:], tf.float32)
        x_pred = tf.cast(x_pred, tf.float32)
        out = {}
        total = 0.0
        for term in self._terms:
            values = term(target, x_pred)
            out.update(values)
            total += term.weight * values[term.name]
        out["kl"] = kl_divergence(q, p)
        out["loss"] = total + self.beta * out["kl"]
        return out

    def _update_trackers(self, values):
        for name, tracker in self._trackers.items():
            tracker.update_state(values[name])
        results = {name: tracker.result() for name, tracker in self._trackers.items()}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces multi-worker step outputs with a mean over axis 0,
            # which fails on scalars: hand it vectors of one element instead.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            values = self.compute_loss_terms(x, training=True)
            # Each replica's loss is a mean over its share of the global batch and
            # gradients are summed over replicas: divide by their number so the
            # update is that of the global-batch mean, whatever the replica count.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(values["loss"] / replicas)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._update_trackers(values)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self._update_trackers(self.compute_loss_terms(x, training=False))

    # ------------------------------------------------------------ generation

    def sample(self, context, horizon, num_samples=1, seed=0, batchnorm="moving"):
        """Samples `num_samples` futures of `horizon` frames per sequence.

        Samples are folded into the batch, so every step is one call over
        batch x samples. Noise comes from stateless ops keyed by `seed`
        (see `sample_keys`): the same seed gives the same frames, whatever
        else is in the batch. The future steps run in a `tf.while_loop`, so
        `horizon` and `num_samples` may be Python ints or scalar tensors
        (for example the inputs of an exported signature).

        Args:
            context: frames `[batch, n_ctx, h, w, c]` in [0, 1]; n_ctx >= 1
                must be known statically.
            horizon: number of future frames to predict, >= 1.
            num_samples: samples per sequence, >= 1.
            seed: an int, or int tensor `[batch]` with one seed per sequence.
            batchnorm: the encoder's and decoder's BatchNorm statistics.
                `"moving"`: the moving averages of training, so each
                sequence's futures are its own. `"batch"`: batch statistics
                as the reference generates (its networks stay in training
                mode): per time step over the sequences of the batch, one set
                per sample draw, so a sequence's futures depend on the other
                sequences sampled with it. `"sequence"`: batch statistics of
                each sequence alone, over its context frames and then, per
                step, over its samples; a sequence's samples start as
                near-copies, so this normalises by little more than noise.
                The moving averages are never updated.

        Returns:
            float32 frames `[batch, num_samples, horizon, h, w, c]`.
        """
        context = checked_context(context, horizon, num_samples, batchnorm)
        batch, n_ctx = tf.shape(context)[0], context.shape[1]
        keys = sample_keys(seed, batch)  # [b, 2]

        def noise(t):  # eps [b * s, z] of the z_t that predicts frame t (0-based)
            return sampling.keyed_normal(keys, t, num_samples, self.z_dim)

        # Chosen once, before the loop: the BatchNorm statistics and the decoding.
        ctx_groups, groups = sampling_groups(batchnorm, n_ctx, num_samples)
        h_ctx, skips = self.encode_frames(context, training=False, groups=ctx_groups)  # [b, n, g]
        last_skips = [s[:, -1] for s in skips]  # [b, ...]: the last context frame's
        decoder = step_decoder(self, last_skips, num_samples, groups)
        h, states = warm_up(self, h_ctx, n_ctx, noise, num_samples)  # h [b*s, g]
        frames = future_frames(self, h, states, decoder, noise, n_ctx, horizon, groups)
        shape = tf.concat([[batch, num_samples, horizon], tf.shape(frames)[2:]], 0)
        return tf.reshape(frames, shape)  # [b, s, horizon, h, w, c]

    # ----------------------------------------------------------------- config

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": self.backbone,
            "image_size": self.image_size,
            "channels": self.channels,
            "g_dim": self.g_dim,
            "nf": self.nf,
            "z_dim": self.z_dim,
            "rnn_size": self.rnn_size,
            "predictor_rnn_layers": self.predictor_rnn_layers,
            "posterior_rnn_layers": self.posterior_rnn_layers,
            "prior_rnn_layers": self.prior_rnn_layers,
            "prior_type": self.prior_type,
            "last_frame_skip": self.last_frame_skip,
            "n_past": self.n_past,
            "beta": self.beta,
            "seed": self.seed,
            "precompute_skips": self.precompute_skips,
            "fused_batchnorm": self.fused_batchnorm,
            "batchnorm_stats": self.batchnorm_stats,
            "feedback_rate": self.feedback_rate,
            "feedback_z": self.feedback_z,
        }
