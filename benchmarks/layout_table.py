"""The README's "Spatial hearing" layout table (issue 19, part 0): the tiny binaural model trained in each
binaural layout (reference, spatial, apart), with the demo's recipe and seed and nothing else changed, then
swept on two tasks:

- the demo's task: the built-in corpus's held-out clips, the demo's sweep (clean, SNR, RT60 bins, with
  localisation);
- a task of real recordings: the voice prompts of Debian's Asterisk sound packages, one class per voice
  (six speakers; two of them one speaker in two languages), recorded at 8 kHz (the sweep resamples), clips
  of at least 1.5 s. Install them first:
      apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav \\
          asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav asterisk-prompt-it-menardi-wav

    wavjepa-nat demo --out demo_out          # once: the bank and the corpus
    python benchmarks/layout_table.py --demo demo_out --out layouts_out

Each sweep's report (OUT/demo-task/report.md, OUT/voices/report.md) holds the accuracies with 95 % intervals
and the paired (McNemar) tests between the layouts. CPU-heavy (three tiny trainings, two sweeps): not run in
this repository's tests.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import soundfile as sf
from demo_recipe import DEMO, demo_sweep, demo_train_config, train_once

LAYOUTS = ("reference", "spatial", "apart")
ASTERISK = Path("/usr/share/asterisk/sounds")
VOICES = (
    "en_US_f_Allison",
    "es_MX_f_Allison",
    "fr_CA_f_June",
    "it_IT_f_Menardi",
    "it_IT_m_Carlo",
    "ru_RU_f_IvrvoiceRU",
)


def voice_task(folder: Path, min_seconds: float) -> Path | None:
    """A folder with one sub-folder per voice, links to its prompts of at least min_seconds; None when the
    packages are not installed."""
    if not all((ASTERISK / v).is_dir() for v in VOICES):
        return None
    for voice in VOICES:
        (folder / voice).mkdir(parents=True, exist_ok=True)
        for wav in sorted((ASTERISK / voice).resolve().rglob("*.wav")):
            link = folder / voice / "_".join(wav.relative_to((ASTERISK / voice).resolve()).parts)
            if not link.exists() and sf.info(str(wav)).duration >= min_seconds:
                link.symlink_to(wav)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", required=True, help="a `wavjepa-nat demo` output folder (bank.h5, corpus/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=DEMO.steps, help="steps of each training (the demo's)")
    ap.add_argument("--voice-clips-per-class", type=int, default=30, help="per class and split")
    ap.add_argument("--voice-snr", default="0,10,20")
    args = ap.parse_args()
    demo, out = Path(args.demo), Path(args.out)
    models = [
        train_once(demo_train_config(demo, out / "runs" / layout, layout=layout, max_steps=args.steps))
        for layout in LAYOUTS
    ]
    demo_sweep(
        models,
        demo / "corpus",
        demo,
        out / "demo-task",
        "Binaural layouts on the demo's task (tiny, the demo's recipe; only --layout differs)",
    )
    voices = voice_task(out / "voice-task", min_seconds=1.5)
    if voices is None:
        print(f"no Asterisk voice packages under {ASTERISK}: the real-recording task is skipped")
        return
    demo_sweep(
        models,
        voices,
        demo,
        out / "voices",
        "Binaural layouts on real recordings: six Asterisk voices (tiny, the demo's recipe)",
        snr_db=args.voice_snr,
        clip_seconds=2.0,
        max_clips_per_class=args.voice_clips_per_class,
    )
    print(f"reports: {out / 'demo-task' / 'report.md'}, {out / 'voices' / 'report.md'}")


if __name__ == "__main__":
    main()
