"""Where an SVG model's samples lose the future: its frame model or its prior.

The learned prior p(z_t | x_1:t-1) proposes the latents the samples use; the
inference network q(z_t | x_1:t) sees the true future and gives the latents
the frame predictor and decoder were trained with. This script rolls the
model out on its own predicted frames, as sampling does, once with each
step's latent set to the posterior mean of the true clip and once with the
prior's samples, and scores both per predicted frame (uniform SSIM) on the
first test sequences:

- `teacher_forced`: one step ahead from the true previous frame, posterior
  mean latent (the training pass, without its noise);
- `posterior_rollout`: the model's own frames as inputs (and, with
  `last_frame_skip`, as skips), posterior-mean latents of the true clip;
- `posterior_draw_one`: the same with one draw of the posterior per step;
- `prior_best`, `prior_one`: `model.sample` (prior latents), the best of N
  samples by mean SSIM and the first sample;
- `prior_temperature_T`: the best of N with the prior's noise scaled by T
  (T = 0 is the prior mean);
- `kl_per_step`: KL(q || p) per predicted step on the true clip, in nats;
- `kl_at_bounces`, `kl_between_bounces` (SM-MNIST only): the mean KL of a
  step (after the first, whose speeds one frame cannot show) whose target
  frame follows a bounce, when a digit drew new speeds, and of the other
  steps, where the data's future was fixed by the frames before;
- `prior_at_bounces_best`, `prior_at_bounces_one` (SM-MNIST only): the
  rollout with the posterior mean between bounces and the prior's draw at
  the steps that follow one: what the samples would score if the prior
  erred only where the data is random (between bounces the posterior mean
  also steers the rollout back to the true clip, which no prior can);
- `posterior_at_bounces_best`, `posterior_at_bounces_one` (SM-MNIST only):
  the converse, the prior's draws between bounces and the posterior mean at
  the steps that follow one: the samples if the prior guessed every new
  speed right;
- `posterior_at_random_steps_best`, `_one` (SM-MNIST only): the control,
  the posterior mean at as many predicted steps of each clip as follow a
  bounce, at random ones (seed 0), and the prior's draws elsewhere.

In the rows that mix the two, the context's steps take a posterior draw, as
sampling's warm-up does.

If the posterior rollout beats the all-black frame and the prior's samples
do not, the frame model can draw the future and the prior does not find it.

    pip install --no-deps -r requirements-mnist5k.txt   # the digits
    PYTHONPATH=. python experiments/prior_gap.py pretrained/smmnist5k_svglp \
        experiments/results/smmnist5k_5to10/svglp/prior_gap.json
"""

import dataclasses
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from svgpl_tf import runs
from svgpl_tf.data import digits
from svgpl_tf.data.pipeline import TEST_SEED, make_datasets
from svgpl_tf.data.sprite_motion import render_into, sprite_tracks
from svgpl_tf.evaluation import metrics
from svgpl_tf.models import sampling
from svgpl_tf.models.recurrent import GaussianLSTM

NUM_SEQUENCES, NUM_SAMPLES, SEED = 64, 20, 0
PROBE_EVERY, LOG_EVERY = 250, 25  # steps, in the scripts that train under the probe
TEMPERATURES = (0.0, 0.5, 1.5)

tfd = tfp.distributions


def gaussian_draw(model):
    """The learned prior's draw: `(h_prev, state, eps, j) -> (z, state)`."""

    def draw(h_prev, state, eps, j):
        mu_p, logvar_p, state = model.prior.step(h_prev, state)  # [b, z]
        return GaussianLSTM.reparameterize(mu_p, logvar_p, eps), state

    return draw


def rollout(
    model,
    clips,
    n_past: int,
    z_at,
    seed: int = SEED,
    prior_draw=None,
    noise=None,
    eps=None,
    repeats: int = 1,
):
    """Rolls the model out on its own frames with latents that `z_at` picks.

    Each step's latent is chosen from the true clip's posterior mean, a draw
    of the posterior, and a draw of the prior run on the model's own frames
    (as when sampling); the two draws share one standard normal noise.

    Args:
        model: a restored `SVGModel` with a learned prior.
        clips: `[b, T, h, w, c]` test clips.
        n_past: context frames.
        z_at: `(j, mu_q, z_q, z_p) -> z [b, z]`, the latent of step j (which
            predicts frame j + 1) from the posterior mean, the posterior draw
            and the prior draw, each `[b, z]`.
        seed: seed of the noise.
        prior_draw: `(h_prev, state, eps, j) -> (z [b, z], state)`, a prior's
            draw from the encoding of the previous frame and the standard
            normal noise `eps`; the learned prior's (`gaussian_draw`) if None.
        noise: a `tf.random.Generator` to draw the noise from, step by step,
            in place of a new one from `seed` (inside a `tf.function`).
        eps: the whole noise `[b, T - 1, z]`, in place of `noise`.
        repeats: rollouts per clip; rollout i of clip c is row i * b + c of
            the outputs (the clips are encoded once, not once per rollout).

    Returns:
        `(frames, inputs)`: the predicted frames `[repeats * b, T - n_past, h,
        w, c]`, and the encodings the predictor and the prior read
        `[repeats * b, T - 1, g]` (the true context's, then those of the
        model's own frames).
    """
    h_true, skips_true = model.encode_frames(clips, training=False)  # [b, T, g]
    mu_q, logvar_q, _ = model.posterior(h_true[:, 1:], training=False)  # [b, T-1, z]
    if repeats > 1:  # [repeats * b, ...]
        h_true, mu_q, logvar_q = (tf.tile(t, [repeats, 1, 1]) for t in (h_true, mu_q, logvar_q))
        skips_true = [tf.tile(s, [repeats] + [1] * (s.shape.rank - 1)) for s in skips_true]
    sigma_q = tf.exp(0.5 * logvar_q)
    if eps is None:
        noise = noise or tf.random.Generator.from_seed(seed)
    prior_draw = prior_draw or gaussian_draw(model)
    state, prior_state, frames, inputs, x_prev = None, None, [], [], None
    for j in range(clips.shape[1] - 1):  # step j predicts frame j + 1
        if j < n_past:  # a context frame: its encoding and its skips
            h_prev, skips = h_true[:, j], [s[:, j] for s in skips_true]
        else:  # the model's own frame; its skips too with `last_frame_skip`
            h_prev, own_skips = model.encoder(x_prev, training=False)
            skips = own_skips if model.last_frame_skip else skips
        inputs.append(h_prev)
        step_eps = noise.normal([h_true.shape[0], model.z_dim]) if eps is None else eps[:, j]
        step_eps = tf.cast(step_eps, mu_q.dtype)  # [b, z]; bfloat16 under a mixed policy
        z_q = mu_q[:, j] + sigma_q[:, j] * step_eps
        z_p, prior_state = prior_draw(h_prev, prior_state, step_eps, j)
        z = z_at(j, mu_q[:, j], z_q, z_p)
        g, state = model.frame_predictor.step(tf.concat([h_prev, z], -1), state)
        x_prev = model.decoder(g, skips, training=False)  # [b, h, w, c]
        if j >= n_past - 1:
            frames.append(x_prev)
    return tf.stack(frames, 1), tf.stack(inputs, 1)


def rollout_scores(model, clips: np.ndarray, n_past: int, z_at, prior_draw_of=lambda s: None):
    """Uniform SSIM `[b, s, t]` of `NUM_SAMPLES` rollouts per clip (seeds
    SEED + s), `prior_draw_of(s)` the s-th one's `prior_draw`."""
    frames = [
        rollout(model, tf.constant(clips), n_past, z_at, SEED + s, prior_draw_of(s))[0]
        for s in range(NUM_SAMPLES)
    ]
    return metrics.ssim(np.stack(frames, 1), clips[:, n_past:][:, None]).numpy()


def test_clips(config, count: int | None = None) -> np.ndarray:
    """The first `count` (all if None) test clips, cut to the context and the
    evaluation horizon: `[count, n_past + eval_n_future, h, w, c]`."""
    clips = np.concatenate([c.numpy() for c in make_datasets(config).test])
    return clips[:count, : config.n_past + config.eval_n_future]


def restore_with_data(model_dir: str, batch_size: int, precision: str | None = None):
    """A trained model with its training stream and test clips, for the
    scripts that train one of its modules.

    Args:
        model_dir: a training workdir or weights-only folder.
        batch_size: clips per training batch.
        precision: build the model with this precision policy (None: the run's).

    Returns:
        `(model, config, train, test)`: `train` an iterator over training
        batches of `batch_size` clips `[batch, seq_len, h, w, c]`, and `test`
        every test clip (`test_clips`).
    """
    model, config, _ = runs.restore_model(model_dir, precision=precision)
    train = iter(make_datasets(dataclasses.replace(config, batch_size=batch_size)).train)
    return model, config, train, test_clips(config)


def sampling_latents(n_past: int):
    """`rollout`'s `z_at` of sampling: the posterior's draw in the context,
    the prior's after it."""

    def z_at(j, mu_q, z_q, z_p):
        return z_p if j >= n_past - 1 else z_q

    return z_at


def prior_best_of(model, clips: np.ndarray, n_past: int, prior_draw_of=lambda s: None):
    """The best of `NUM_SAMPLES` rollouts with a prior's draws (seeds SEED + s).

    Args:
        model: a restored `SVGModel`.
        clips: `[b, T, h, w, c]` test clips.
        n_past: context frames.
        prior_draw_of: sample index -> `rollout`'s `prior_draw` (None: the
            model's learned prior).

    Returns:
        Uniform SSIM per predicted frame `[T - n_past]`.
    """
    return best_of(rollout_scores(model, clips, n_past, sampling_latents(n_past), prior_draw_of))


def train_with_probes(
    model, config, probe: np.ndarray, out_dir: str, steps: int, step_fn, describe
) -> None:
    """The loop of the scripts that train a restored model under the probe.

    Prints the all-black frame's SSIM per predicted frame, then the probe
    (`prior_best_of` on `probe`) at step 0 and every `PROBE_EVERY` steps,
    and `describe(outputs)` every `LOG_EVERY` steps; at every probe after
    step 0 it writes the model to `OUT_DIR/stepN`, a folder `restore_model`
    reads.

    Args:
        model: the model being trained.
        config: its `Config`, saved with each step's weights.
        probe: `[b, T, h, w, c]` test clips.
        out_dir: where the steps' folders go.
        steps: training steps to run.
        step_fn: one training step, `() -> outputs`.
        describe: `(outputs) -> str`, the step's log line.
    """
    n_past = config.n_past
    truth = probe[:, n_past:]
    blank = metrics.ssim(np.zeros_like(truth), truth).numpy().mean(0)
    print("blank     ", " ".join(f"{v:.3f}" for v in blank), flush=True)

    def report(step, seconds):
        best = prior_best_of(model, probe, n_past)
        print(f"step {step} {seconds:.0f}s | {probe_line(best, blank)}", flush=True)
        if step:
            runs.save_weights_only(model, config, os.path.join(out_dir, f"step{step}"), step)

    start = time.time()
    report(0, 0)
    for step in range(1, steps + 1):
        outputs = step_fn()
        if step % LOG_EVERY == 0:
            print(f"  step {step} {describe(outputs)}, {time.time() - start:.0f}s", flush=True)
        if step % PROBE_EVERY == 0:
            report(step, time.time() - start)


def probe_line(best: np.ndarray, blank: np.ndarray) -> str:
    """A printed probe: the best of N per frame, its mean and its margin over blank."""
    return (
        f"best of {NUM_SAMPLES} "
        + " ".join(f"{v:.3f}" for v in best)
        + f" | mean {best.mean():.4f} | margin over blank {(best - blank).min():+.3f}"
    )


def teacher_forced_and_kl(model, clips) -> tuple[np.ndarray, np.ndarray]:
    """One step ahead from the true frames with the posterior means:
    `(frames [b, T - 1, h, w, c], KL(q || p) [b, T - 1])`."""
    h_true, skips_true = model.encode_frames(clips, training=False)  # [b, T, g]
    zero_noise = tf.zeros([clips.shape[0], clips.shape[1] - 1, model.z_dim])  # z = posterior mean
    frames, q, p = model.predict_encoded(h_true, h_true, skips_true, zero_noise, training=False)
    return frames.numpy(), tf.reduce_sum(tfd.kl_divergence(q, p), -1).numpy()


def bounce_steps(config, clips: np.ndarray) -> np.ndarray:
    """`[b, T - 1]` booleans: step j's target frame j + 1 follows a bounce at
    frame j (new speeds) of some digit of test sequence b.

    Args:
        config: the model's `Config` (an SM-MNIST one).
        clips: `[b, T, h, w, c]`, the first test clips, which the tracks are
            checked against.
    """
    sprites = digits.load_sprites(config.sprites, "test")
    rows = []
    for i, clip in enumerate(clips):
        seed = [TEST_SEED, i]
        drawn = np.zeros_like(clip)
        render_into(drawn, np.random.default_rng(seed), sprites, config.num_sprites)
        if not np.array_equal(drawn, clip):
            raise AssertionError(f"test sequence {i} is not the renderer's clip of seed {seed}")
        _, _, bounces = sprite_tracks(
            np.random.default_rng(seed), config.num_sprites, len(sprites), len(clip)
        )
        rows.append(bounces.any(0)[:-1])
    return np.stack(rows)


def prior_samples(model, context, horizon: int, temperature: float = 1.0) -> np.ndarray:
    """`model.sample` with the prior's noise scaled by `temperature`: `[b, s, t, ...]`."""
    keyed_normal = sampling.keyed_normal
    sampling.keyed_normal = lambda *args: temperature * keyed_normal(*args)
    try:
        frames = model.sample(context, horizon=horizon, num_samples=NUM_SAMPLES, seed=SEED)
    finally:
        sampling.keyed_normal = keyed_normal
    return frames.numpy()


def rounded(values) -> list[float]:
    return [round(float(v), 4) for v in values]


def best_of(scores: np.ndarray) -> np.ndarray:
    """`[b, s, t]` SSIM -> the best sample's by mean SSIM, averaged: `[t]`."""
    best, _ = metrics.rank_samples(scores)
    return metrics.take_sample(scores, best).numpy().mean(0)


def main(model_dir: str, output: str) -> None:
    model, config, _ = runs.restore_model(model_dir)
    n_past, horizon = config.n_past, config.eval_n_future
    clips = test_clips(config, NUM_SEQUENCES)  # [b, T, h, w, c]
    truth = clips[:, n_past:]  # [b, t, h, w, c]
    teacher_forced, kl = teacher_forced_and_kl(model, tf.constant(clips))

    posterior_draws = rollout_scores(model, clips, n_past, lambda j, mu_q, z_q, z_p: z_q)
    rows = {
        "teacher_forced": metrics.ssim(teacher_forced[:, n_past - 1 :], truth).numpy().mean(0),
        "posterior_rollout": metrics.ssim(
            rollout(model, tf.constant(clips), n_past, lambda j, mu_q, z_q, z_p: mu_q)[0], truth
        )
        .numpy()
        .mean(0),
        "posterior_draw_one": posterior_draws[:, 0].mean(0),
    }
    scores = metrics.ssim(prior_samples(model, clips[:, :n_past], horizon), truth[:, None]).numpy()
    rows[f"prior_best_of_{NUM_SAMPLES}"] = best_of(scores)
    rows["prior_one"] = scores[:, 0].mean(0)
    for temperature in TEMPERATURES:
        pred = prior_samples(model, clips[:, :n_past], horizon, temperature)
        rows[f"prior_temperature_{temperature}_best_of_{NUM_SAMPLES}"] = best_of(
            metrics.ssim(pred, truth[:, None]).numpy()
        )
    rows["all_black"] = metrics.ssim(np.zeros_like(truth), truth).numpy().mean(0)
    report = {
        "model": model_dir,
        "protocol": f"first {NUM_SEQUENCES} test sequences, {n_past} -> {horizon} frames, "
        f"uniform SSIM per predicted frame, {NUM_SAMPLES} prior samples (seed {SEED})",
        "frames": list(range(n_past + 1, n_past + horizon + 1)),
        "ssim": {name: rounded(values) for name, values in rows.items()},
        "kl_per_step": [round(float(v), 2) for v in kl.mean(0)],
        "kl_total": round(float(kl.sum(1).mean()), 1),
    }
    if config.dataset == "smmnist":
        bounces = bounce_steps(config, clips)  # [b, T-1]
        bounced, later = bounces[:, 1:], kl[:, 1:]  # [b, T-2]
        report["kl_at_bounces"] = round(float(later[bounced].mean()), 2)
        report["kl_between_bounces"] = round(float(later[~bounced].mean()), 2)
        report["bounce_share"] = round(float(bounced.mean()), 3)
        # Which predicted steps get the posterior's mean: those after a bounce,
        # or as many random ones per clip (the control: any reset to the truth).
        predicted = np.arange(bounces.shape[1]) >= n_past - 1  # [T-1]
        rng = np.random.default_rng(SEED)
        random_steps = np.stack(
            [np.r_[row[~predicted], rng.permutation(row[predicted])] for row in bounces]
        )
        for name, told in (
            ("prior_at_bounces", ~bounces),
            ("posterior_at_bounces", bounces),
            ("posterior_at_random_steps", random_steps),
        ):
            told = tf.constant(told)

            def z_at(j, mu_q, z_q, z_p, told=told):  # the posterior's draw in the context
                return z_q if j < n_past - 1 else tf.where(told[:, j : j + 1], mu_q, z_p)

            scores = rollout_scores(model, clips, n_past, z_at)
            report["ssim"][f"{name}_best_of_{NUM_SAMPLES}"] = rounded(best_of(scores))
            report["ssim"][f"{name}_one"] = rounded(scores[:, 0].mean(0))
    with open(output, "w") as f:
        json.dump(report, f, indent=1)
    for name, values in report["ssim"].items():
        print(f"{name:40s}", " ".join(f"{v:.3f}" for v in values), f"| mean {np.mean(values):.4f}")
    print("KL per step", report["kl_per_step"], "total", report["kl_total"])
    if "kl_at_bounces" in report:
        print(
            f"KL at bounces {report['kl_at_bounces']}, between them "
            f"{report['kl_between_bounces']} ({report['bounce_share']:.0%} of the steps)"
        )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: prior_gap.py MODEL_DIR OUTPUT_JSON")
    main(sys.argv[1], sys.argv[2])
