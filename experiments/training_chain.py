"""Appends a training run to a shipped model's chain of runs. Usage:

    python experiments/training_chain.py pretrained/smmnist5k_svglp workdirs/lp 7380 \
        [--first_step=0] [--note="session 1"] [--date=2026-12-01] \
        [--machine="AMD EPYC, 2 CPUs (...)" --precision=mixed_bfloat16 --init_from=DIR]
        [--gpus=1]

Reads the run's config.json, run_info.json (its warm start, if any) and the
step of its latest checkpoint, and appends one record to
FOLDER/training.json: the steps this run took (latest checkpoint minus
--first_step, for a run resumed across sessions), sequences seen (steps x
batch), wall seconds (given: the time this part of the run trained), CPU-hours
(seconds x usable cores; GPU-hours, seconds x GPUs, for a run on --gpus
GPUs), the machine, precision and protocol. The model card
(experiments/model_card.py) sums the chain. A run shipped from a copy of its
weights (a weights-only folder, evaluated on another machine) gives the
machine it trained on, its precision and its warm start with --machine,
--precision and --init_from: the copy's config says float32, as weights ship,
and it has no run_info.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os

import tensorflow as tf

from svgpl_tf import files
from svgpl_tf.config import Config
from svgpl_tf.machine import machine_info
from svgpl_tf.runs import CHECKPOINT_DIR

# The chain's file inside a shipped model's folder.
CHAIN_FILE = "training.json"


def record(
    workdir: str,
    seconds: float,
    first_step: int = 0,
    note: str = "",
    date: str = "",
    machine: str = "",
    precision: str = "",
    init_from: str = "",
    gpus: int = 0,
) -> dict:
    """One run of the chain, read from its workdir; `machine`, `precision` and
    `init_from`, where given, replace what the workdir and this machine say.
    A run on `gpus` GPUs counts GPU-hours (seconds x GPUs) and no CPU-hours."""
    config = Config.load(workdir)
    latest = tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR))
    if latest is None:
        raise SystemExit(f"{workdir} holds no checkpoint.")
    step = int(latest.rsplit("-", 1)[1])
    info_path = os.path.join(workdir, "run_info.json")
    info = json.load(open(info_path)) if os.path.isfile(info_path) else {}
    here = machine_info()
    cpus = here["usable_cpus"] if not machine else _cpus(machine)
    steps = step - first_step
    return {
        "workdir": os.path.basename(os.path.normpath(workdir)),
        "date": date or datetime.date.today().isoformat(),
        "init_from": init_from or (info.get("init_from") or {}).get("path"),
        "first_step": first_step,
        "last_step": step,
        "steps": steps,
        "batch_size": config.batch_size,
        "sequences": steps * config.batch_size,
        "n_past": config.n_past,
        "n_future": config.n_future,
        "learning_rate": config.learning_rate,
        "precision": precision or config.precision,
        "seconds": seconds,
        "cpu_hours": 0.0 if gpus else seconds * cpus / 3600,
        "gpu_hours": seconds * gpus / 3600,
        "machine": machine
        or f"{here['cpu']}, {here['usable_cpus']} CPUs "
        f"({', '.join(here['cpu_flags'])}), GPUs: {', '.join(here['gpus']) or 'none'}",
        "note": note,
    }


def _cpus(machine: str) -> int:
    """The CPU count of a `--machine` line ("NAME, 2 CPUs (...)")."""
    for part in machine.split(","):
        words = part.split()
        if len(words) >= 2 and words[1] == "CPUs" and words[0].isdigit():
            return int(words[0])
    raise SystemExit(f"--machine={machine!r} names no CPU count: write it as 'NAME, 2 CPUs (...)'.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("workdir")
    parser.add_argument("seconds", type=float)
    parser.add_argument("--first_step", type=int, default=0)
    parser.add_argument("--note", default="")
    parser.add_argument("--date", default="", help="When the run trained (default: today).")
    parser.add_argument("--machine", default="", help="Where it trained (default: here).")
    parser.add_argument("--precision", default="", help="Its precision (default: its config's).")
    parser.add_argument("--init_from", default="", help="Its warm start (default: run_info's).")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs it trained on (GPU-hours).")
    args = parser.parse_args()
    path = os.path.join(args.folder, CHAIN_FILE)
    chain = json.load(open(path)) if os.path.isfile(path) else {"runs": []}
    chain["runs"].append(
        record(
            args.workdir,
            args.seconds,
            args.first_step,
            args.note,
            args.date,
            args.machine,
            args.precision,
            args.init_from,
            args.gpus,
        )
    )
    files.write_json(path, chain)
    print(f"Appended {args.workdir} to {path}: {len(chain['runs'])} run(s).")


if __name__ == "__main__":
    main()
