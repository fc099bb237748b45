"""`wavjepa-nat demo`: the whole pipeline on the embedded defaults, in under 10 minutes on 2 CPU cores.

1. simulate a small RIR bank (analytic head, RT60 0.2-1.5 s, test rooms unseen in training);
2. make the built-in labelled corpus (procedural sound events, plus spoken words if espeak-ng is there);
3. train a tiny WavJEPA-Nat (every clip rendered in a scene: clean ratio 0) and a tiny clean twin
   (the same two-channel model and budget, clean ratio 1: dry clips only);
4. sweep both, and a log-mel baseline, over SNR -5..20 dB and RT60 bins on held-out clips in unseen rooms;
5. write the report (markdown, JSON, CSV, plots, HTML).

With compare_layouts, step 3 also trains the WavJEPA-Nat in the other binaural layouts (reference, spatial;
nat_model/config.py BINAURAL_LAYOUTS), and the sweep scores them side by side: about 3 minutes more each.

Every step is skipped when its output is already there, so an interrupted demo resumes. Each stage prints
its elapsed time as it ends, and a summary closes the run (also written to OUT/timings.json).
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from wavjepa_nat.checks import check_output_dir
from wavjepa_nat.errors import InputError
from wavjepa_nat.files import write_text_atomic
from wavjepa_nat.serialise import config_dict


@dataclass
class DemoConfig:
    out: str = "demo_out"
    n_scenes: int = 192
    rt60: tuple[float, float] = (0.2, 1.5)
    n_per_class: int = 40
    clip_seconds: float = 4.0
    steps: int = 200  # fewer than earlier rounds' 280: the demo must end within 10 minutes on 2 cores
    batch_clips: int = 2
    # Crops per clip and step. A 4 s clip holds two 2.01 s crops side by side, so 8 crops of one clip overlap
    # heavily; 4 keep the clips per step and halve a step's compute: both trainings take about half as long.
    n_crops: int = 4
    snr: str = "-5..20"
    rt60_bins: str = "auto"  # bins over the measured RT60 range of the test rooms
    max_clips_per_class: int = 10
    workers: int = 2
    seed: int = 0
    layout: str = "apart"  # both models' binaural layout: apart (the presets') | spatial | reference
    ear_norm: str | None = None  # overrides the layout's first GroupNorm statistics (ModelConfig.ear_norm)
    compare_layouts: bool = False  # also train the naturalistic model in the other binaural layouts

    def __post_init__(self) -> None:
        # The demo's own flags; the stages' configs (built first in run_demo) check the rest.
        for name in ("steps", "n_scenes", "workers", "batch_clips", "n_crops"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")


def _settings(train_cfg: dict) -> dict:
    """What defines a trained model, without the paths (a rerun may name the same folder another way)."""
    return {k: v for k, v in config_dict(train_cfg).items() if k not in ("data", "bank", "out")}


def _saved_settings(run: Path) -> dict:
    return _settings(yaml.safe_load((run / "config.yaml").read_text()).get("train", {}))


class StageClock:
    """Elapsed time per stage: a header as a stage starts, its seconds as it ends, a summary at the end."""

    def __init__(self, log):
        self.log = log
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @contextmanager
    def stage(self, name: str, title: str):
        self.log(f"\n== [{self.elapsed():6.0f} s] {title}")
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        self.log(f"   {name}: {self.seconds[name]:.0f} s")

    def summary(self, path: Path) -> None:
        """Log the time per stage and the total; write them (seconds) to `path` as JSON."""
        total = self.elapsed()
        width = max(len(name) for name in [*self.seconds, "total"])
        self.log("\n== time per stage")
        for name, seconds in [*self.seconds.items(), ("total", total)]:
            self.log(f"   {name:<{width}} {seconds:6.0f} s")
        times = {name: round(seconds, 1) for name, seconds in self.seconds.items()}
        write_text_atomic(path, json.dumps({**times, "total": round(total, 1)}, indent=1) + "\n")


def run_demo(cfg: DemoConfig, log=print) -> Path:
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency

    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
    from wavjepa_nat.nat_model import get_preset
    from wavjepa_nat.nat_model.config import BINAURAL_LAYOUTS
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.rir_bank.writer import check_bank_resources
    from wavjepa_nat.robustness.config import SweepConfig
    from wavjepa_nat.robustness.sweep import run_sweep
    from wavjepa_nat.scenes import SceneConfig
    from wavjepa_nat.training.loop import TrainConfig, train

    if cfg.layout not in BINAURAL_LAYOUTS:  # bad values fail now, not after the bank is simulated
        raise InputError(f"--layout must be one of {', '.join(BINAURAL_LAYOUTS)}, got '{cfg.layout}'")
    layout = {**BINAURAL_LAYOUTS[cfg.layout], **({"ear_norm": cfg.ear_norm} if cfg.ear_norm else {})}
    get_preset("tiny", **layout)
    sweep_cfg = SweepConfig(
        snr_db=cfg.snr,
        rt60_bins=cfg.rt60_bins,
        seed=cfg.seed,
        max_clips_per_class=cfg.max_clips_per_class,
        clip_seconds=cfg.clip_seconds,
    )
    # Every stage's config (each checks itself) and the output, before the first stage starts.
    out = check_output_dir(cfg.out, "--out")
    bank, corpus = out / "bank.h5", out / "corpus"
    # More test rooms than the 8/1/1 default, one scene each, so that every RT60 bin of the sweep has
    # unseen rooms and enough source directions (~14 per bin) for its localisation scores to mean something.
    scene_cfg = SceneConfig(
        rt60=cfg.rt60,
        noise_bed_seconds=cfg.clip_seconds + 1.0,
        seed=cfg.seed,
        scenes_per_room=1,
        split_per_ten_rooms=(6, 1, 3),
    )
    check_bank_resources(bank, scene_cfg, cfg.n_scenes, cfg.workers)
    corpus_cfg = CorpusConfig(n_per_class=cfg.n_per_class, seconds=cfg.clip_seconds, seed=cfg.seed)

    def train_cfg(name: str, clean_ratio: float, layout: str) -> TrainConfig:
        return TrainConfig(
            data=str(corpus / "manifest.csv"),
            bank=str(bank),
            out=str(out / "runs" / name),
            preset="tiny",
            channels=2,
            clean_ratio=clean_ratio,
            max_steps=cfg.steps,
            batch_clips=cfg.batch_clips,
            n_crops=cfg.n_crops,
            clip_seconds=cfg.clip_seconds,
            num_workers=1,
            ckpt_every=max(cfg.steps // 3, 1),
            seed=cfg.seed,
            layout=layout,
            ear_norm=cfg.ear_norm,
        )

    train_cfgs = {"nat": train_cfg("nat", 0.0, cfg.layout), "clean": train_cfg("clean", 1.0, cfg.layout)}
    if cfg.compare_layouts:
        for other in (name for name in BINAURAL_LAYOUTS if name != cfg.layout):
            train_cfgs[f"nat-{other}"] = train_cfg(f"nat-{other}", 0.0, other)
    out.mkdir(parents=True, exist_ok=True)
    clock = StageClock(log)

    with clock.stage("bank", "1/5 simulating the RIR bank"):
        simulate_bank(bank, scene_cfg, cfg.n_scenes, workers=cfg.workers)

    with clock.stage("corpus", "2/5 making the built-in corpus"):
        summary = make_corpus(corpus, corpus_cfg)
        log(f"   {len(summary['classes'])} classes, {summary['n_clips']} clips ({summary['splits']})")

    models = {}
    titles = {"nat": "WavJEPA-Nat (clean ratio 0)", "clean": "clean twin (clean ratio 1)"}
    for name, run_cfg in train_cfgs.items():
        title = titles.get(name, f"WavJEPA-Nat (clean ratio 0) in the {run_cfg.layout} layout")
        with clock.stage(f"training {name}", f"3/5 training the tiny {title}"):
            run = Path(run_cfg.out)
            last = run / "last.ckpt"
            if not last.is_file():
                train(run_cfg)
            elif _saved_settings(run) != _settings(asdict(run_cfg)):
                raise InputError(f"{run} holds a model trained with other settings; choose another --out")
            else:
                log(f"   {last} is there (trained with these settings)")
            models[name] = last

    report = out / "report"
    with clock.stage("sweep", "4/5 robustness sweep (clean, SNR, RT60) on held-out clips in unseen rooms"):
        # The probes' many small matrix products: BLAS threads would fight the encoder's torch threads for
        # the cores and spin-wait, far slower than one BLAS thread.
        with threadpool_limits(limits=1, user_api="blas"):
            run_sweep(
                list(models.values()),
                str(corpus),
                str(bank),
                sweep_cfg,
                out_dir=report,
                title="wavjepa-nat demo: WavJEPA-Nat vs a clean twin (tiny, CPU)",
            )

    if not (report / "report.md").is_file():
        raise InputError(f"the sweep wrote no report into {report}")
    log(f"\n== [{clock.elapsed():6.0f} s] 5/5 report written to {report}/report.md and report.html")
    clock.summary(out / "timings.json")
    return report
