"""Where does a binaural encoder keep or lose the direction of a sound? The localisation probe per stage.

    python benchmarks/bench_spatial_stages.py                      # random-init models, the 4 layouts
    python benchmarks/bench_spatial_stages.py --train-steps 400    # and trained ones (tiny, CPU: minutes)
    python benchmarks/bench_spatial_stages.py --checkpoint demo_out/runs/nat/last.ckpt

Layouts: ear_norm per_ear | joint x separate | shared ear encoders (the reference: per_ear, separate), and
with the interaural path (ModelConfig.interaural="gcc_ild", nat_model/interaural.py).
Data: the demo's scene recipe (96 scenes, analytic head, RT60 0.2-1.5 s, unseen test rooms) and the
built-in corpus; every dry clip is rendered once through a random train/val scene (probe training) or
test scene (probe test), no added noise, instance-normalised over (ears, time), cut to one 2.01 s crop.
Per model and stage (robustness/models/stages.py): the lateral-angle error of the linear and the MLP direction
probe (robustness/metrics/direction.py), beside its chance level and the GCC-PHAT + ILD baseline on the same
clips. Writes OUT/stages.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from wavjepa_nat.robustness.metrics.direction import DirectionProbe, LocalisationConfig, lateral_angle
from wavjepa_nat.robustness.metrics.probes import ProbeConfig
from wavjepa_nat.robustness.models.stages import stage_embeddings

LAYOUTS = {  # name -> (ear_norm, share_ear_encoders, interaural)
    "per_ear/separate": ("per_ear", False, "none"),
    "per_ear/shared": ("per_ear", True, "none"),
    "joint/separate": ("joint", False, "none"),
    "joint/shared": ("joint", True, "none"),
    "joint/shared/gcc_ild": ("joint", True, "gcc_ild"),
    "per_ear/separate/gcc_ild": ("per_ear", False, "gcc_ild"),
}


def make_data(work: Path, n_scenes: int, n_per_class: int, seconds: float, seed: int):
    """(bank path, corpus folder), built once under work."""
    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.scenes import SceneConfig

    work.mkdir(parents=True, exist_ok=True)
    bank, corpus = work / "bank.h5", work / "corpus"
    if not bank.is_file():
        cfg = SceneConfig(
            rt60=(0.2, 1.5),
            noise_bed_seconds=seconds + 1.0,
            seed=seed,
            scenes_per_room=2,
            split_per_ten_rooms=(6, 1, 3),
        )
        simulate_bank(bank, cfg, n_scenes, workers=2, progress=False)
    if not (corpus / "manifest.csv").is_file():
        make_corpus(corpus, CorpusConfig(n_per_class=n_per_class, seconds=seconds, seed=seed), progress=False)
    return bank, corpus


def spatial_clips(
    bank_path: Path, corpus: Path, seconds: float, seed: int, max_per_class: int | None, renders: int = 1
):
    """{"train": (audio, az, el), "test": (...)}: clean spatial renderings (train/val scenes, test scenes)."""
    from wavjepa_nat.rir_bank import RIRBank
    from wavjepa_nat.robustness.conditions import CLEAN
    from wavjepa_nat.robustness.degrade import ScenePools, degrade
    from wavjepa_nat.robustness.tasks.task import load_task

    bank = RIRBank(bank_path)
    data = load_task(str(corpus), bank.fs, seconds, seed, max_per_class)
    out = {}
    for split, scenes in (("train", ("train", "val")), ("test", ("test",))):
        pools = ScenePools(bank, [], scenes, strict=False)
        parts = [
            degrade(
                data.clips[split],
                CLEAN,
                pools,
                seed,
                f"stage-{split}-{k}",
                data.clip_ids(split),
                spatial=True,
                elevation=True,
            )
            for k in range(renders if split == "train" else 1)
        ]
        out[split] = tuple(np.concatenate(p) for p in zip(*parts))
    return out


def build_model(layout: str, seed: int, steps: int, work: Path, bank: Path, corpus: Path, seconds: float):
    """A tiny binaural encoder with the layout: random-init (steps 0) or trained for `steps` steps."""
    from wavjepa_nat.nat_model import get_preset
    from wavjepa_nat.nat_model.encoder import Encoder
    from wavjepa_nat.nat_model.weights.export import load_model

    ear_norm, shared, interaural = LAYOUTS[layout]
    arch = {"ear_norm": ear_norm, "share_ear_encoders": shared, "interaural": interaural}
    if steps <= 0:
        torch.manual_seed(seed)
        return Encoder(get_preset("tiny", **arch)).eval()
    from wavjepa_nat.training.loop import TrainConfig, train

    run = work / "runs" / f"{layout.replace('/', '-')}-{steps}"
    last = run / "last.ckpt"
    if not last.is_file():
        train(
            TrainConfig(
                data=str(corpus / "manifest.csv"),
                bank=str(bank),
                out=str(run),
                preset="tiny",
                channels=2,
                clean_ratio=0.0,
                max_steps=steps,
                batch_clips=2,
                n_crops=8,
                clip_seconds=seconds,
                num_workers=1,
                ckpt_every=steps,
                seed=seed,
                model_overrides=arch,
            ),
            progress=False,
        )
    return load_model(last).eval()


def probe_stages(
    feats: dict[str, np.ndarray],
    clips: dict,
    probes=("linear", "mlp"),
    seed: int = 0,
    loc_cfg: LocalisationConfig | None = None,
) -> dict:
    """{stage: {probe: lateral error (deg)}} of stage features of the train and test clips (any elevation)."""
    cfg, loc = ProbeConfig(seed=seed), loc_cfg or LocalisationConfig(max_elevation_deg=90.0)
    (_, az_tr, el_tr), (_, az_te, el_te) = clips["train"], clips["test"]
    out = {}
    for stage, (x_tr, x_te) in feats.items():
        out[stage] = {}
        for kind in probes:
            s = DirectionProbe(kind, cfg, loc).fit(x_tr, az_tr, el_tr).evaluate(x_te, az_te, el_te)
            out[stage][kind] = round(s.lateral_error_deg, 2)
    return out


def measure(
    model, clips: dict, probes=("linear", "mlp"), seed: int = 0, loc_cfg: LocalisationConfig | None = None
) -> dict:
    tr = stage_embeddings(model, clips["train"][0])
    te = stage_embeddings(model, clips["test"][0])
    return probe_stages({k: (tr[k], te[k]) for k in tr}, clips, probes, seed, loc_cfg)


def baselines(clips: dict, probes=("linear", "mlp"), seed: int = 0) -> dict:
    from wavjepa_nat.robustness.models.gcc_ild import GccPhatIldBaseline
    from wavjepa_nat.robustness.models.logmel import LogMelBaseline

    feats = {}
    for b in (GccPhatIldBaseline(), LogMelBaseline(2)):
        feats[b.name] = (b.scene_embeddings(clips["train"][0]), b.scene_embeddings(clips["test"][0]))
    return probe_stages(feats, clips, probes, seed)


def table(results: dict, probes) -> str:
    stages = list(dict.fromkeys(s for r in results.values() for s in r))
    head = "| stage | " + " | ".join(f"{m} ({p})" for m in results for p in probes) + " |"
    lines = [head, "|" + "---|" * (1 + len(results) * len(probes))]
    for s in stages:
        cells = [str(results[m].get(s, {}).get(p, "")) for m in results for p in probes]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="bench_stages", help="work folder: bank, corpus, runs, stages.json")
    ap.add_argument("--scenes", type=int, default=96)
    ap.add_argument("--n-per-class", type=int, default=40)
    ap.add_argument("--max-clips-per-class", type=int, default=None, help="clips per class and split")
    ap.add_argument("--renders", type=int, default=2, help="renderings of each training clip")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    ap.add_argument("--train-steps", type=int, default=0, help="also train each layout so many steps (0: no)")
    ap.add_argument("--checkpoint", action="append", default=[], help="also measure this checkpoint/export")
    ap.add_argument("--no-random", action="store_true", help="skip the random-init models")
    ap.add_argument("--probes", default="linear,mlp")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    work, probes = Path(a.out), tuple(a.probes.split(","))
    t0 = time.perf_counter()
    bank, corpus = make_data(work, a.scenes, a.n_per_class, a.seconds, a.seed)
    clips = spatial_clips(bank, corpus, a.seconds, a.seed, a.max_clips_per_class, a.renders)
    lat = lateral_angle(clips["test"][1], clips["test"][2])
    chance = float(np.mean(np.abs(lat - np.median(lat))))
    timings = {"data_s": round(time.perf_counter() - t0, 1)}
    print(
        f"{len(clips['train'][0])} training and {len(clips['test'][0])} test renderings; "
        f"lateral chance {chance:.1f} deg ({timings['data_s']} s)",
        flush=True,
    )
    results = {"chance": {"all": {p: round(chance, 2) for p in probes}}}
    t = time.perf_counter()
    results.update({k: {"features": v} for k, v in baselines(clips, probes, a.seed).items()})
    timings["baselines_s"] = round(time.perf_counter() - t, 1)
    models = [] if a.no_random else [(f"{lay} random", lay, 0) for lay in a.layouts.split(",")]
    if a.train_steps > 0:
        models += [(f"{lay} trained {a.train_steps}", lay, a.train_steps) for lay in a.layouts.split(",")]
    for name, lay, steps in models:
        t = time.perf_counter()
        model = build_model(lay, a.seed, steps, work, bank, corpus, a.seconds)
        t_build = time.perf_counter() - t
        results[name] = measure(model, clips, probes, a.seed)
        timings[name] = {"build_s": round(t_build, 1), "probe_s": round(time.perf_counter() - t - t_build, 1)}
        print(f"{name}: output {results[name]['output']} ({timings[name]})", flush=True)
    for ckpt in a.checkpoint:
        from wavjepa_nat.nat_model.weights.export import load_model

        t = time.perf_counter()
        name = f"{Path(ckpt).parent.name or ckpt} ({Path(ckpt).name})"
        results[name] = measure(load_model(ckpt).eval(), clips, probes, a.seed)
        timings[name] = {"probe_s": round(time.perf_counter() - t, 1)}
        print(f"{name}: output {results[name]['output']} ({timings[name]})", flush=True)
    print(table(results, probes))
    payload = {
        "args": vars(a),
        "n_train": len(clips["train"][0]),
        "n_test": len(clips["test"][0]),
        "lateral_chance_deg": chance,
        "results": results,
        "timings": timings,
    }
    (work / "stages.json").write_text(json.dumps(payload, indent=2) + "\n")
    return payload


if __name__ == "__main__":
    main()
