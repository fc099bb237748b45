"""data/render/noise.py: a scene's noise made per clip (banks without beds, noise corpora), through the one
renderer, in numpy and torch from the same draws."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch

from wavjepa_nat.data.augment import AugmentConfig, Augmenter, augment_batch
from wavjepa_nat.data.augment_torch import NaturalisticAugment, to_torch_batch
from wavjepa_nat.data.render import DiffuseField, SceneNoise, Source, render
from wavjepa_nat.rir_bank import RIRBank, simulate_bank
from wavjepa_nat.scenes import SceneConfig
from wavjepa_nat.scenes.diffuse import HOP, STFT_LEN

FS = 16000
CFG = SceneConfig(
    rt60=(0.2, 0.4),
    noise_sources=(0, 3),
    scenes_per_room=2,
    split_per_ten_rooms=(10, 0, 0),
    noise_beds=False,
    room_length=(3.0, 6.0),
    source_distance=(0.5, 2.0),
)


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    path = tmp_path_factory.mktemp("noise_bank") / "nobeds.h5"
    simulate_bank(path, CFG, 12, progress=False)
    return RIRBank(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("wham") / "wham_noise"
    rng = np.random.default_rng(3)
    for split, n in (("tr", 3), ("tt", 2)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            sf.write(root / split / f"{i}.wav", 0.1 * rng.standard_normal((3 * 8000, 2)), 8000)
    return root


class _NoSignals:
    def __len__(self):
        return 1

    def signal(self, *args):
        raise AssertionError("a scene without noise sources reads no noise signal")


def _coherence(x: np.ndarray) -> np.ndarray:
    """Real interaural coherence per bin of scenes/diffuse.py's STFT grid (Hann frames, hop HOP)."""
    frames = np.lib.stride_tricks.sliding_window_view(x, STFT_LEN, axis=-1)[:, ::HOP] * np.hanning(STFT_LEN)
    spec = np.fft.rfft(frames, axis=-1)
    cross = np.mean(spec[0] * np.conj(spec[1]), axis=0).real
    return cross / np.sqrt(np.mean(np.abs(spec[0]) ** 2, axis=0) * np.mean(np.abs(spec[1]) ** 2, axis=0))


def test_source_free_scene_is_the_diffuse_part_with_the_banks_coherence(bank):
    field = DiffuseField.of(bank)
    n = 10 * FS
    noise = SceneNoise(_NoSignals(), field)(np.zeros((0, 2, bank.brir_length), np.float32), 0, 0.5, 7, n)
    assert noise.shape == (2, n) and np.mean(noise.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-4)
    measured = _coherence(noise.astype(np.float64))
    target = field.coherence
    band = slice(1, STFT_LEN // 2)  # DC and Nyquist bins hold real parts only
    assert np.max(np.abs(measured[band] - target[band])) < 0.08
    assert np.mean(np.abs(measured[band] - target[band])) < 0.02
    # The same check the beds pass: coherent at low frequencies, decorrelated above ~1.5 kHz.
    f = np.fft.rfftfreq(STFT_LEN, 1 / FS)
    assert np.mean(measured[(f > 30) & (f < 200)]) > 0.7
    assert np.mean(np.abs(measured[(f > 1500) & (f < 6000)])) < 0.15


def _wet_scene(bank) -> int:
    return int(np.nonzero(bank.meta["n_noise"] > 0)[0][0])


@pytest.mark.parametrize("snr", [-5.0, 10.0, 35.0])
@pytest.mark.parametrize("mode", ["builtin", "corpus"])
def test_snr_measured_on_the_rendered_clip(bank, corpus, mode, snr):
    cfg = AugmentConfig(noise=mode, noise_corpus=str(corpus) if mode == "corpus" else None, split=None)
    aug = Augmenter(bank, cfg, FS)
    rng = np.random.default_rng(1)
    n = 3 * FS
    dry = rng.standard_normal(n).astype(np.float32)
    draws = aug.draw(rng, 1, n)
    draws.scene[:] = _wet_scene(bank)
    draws.is_clean[:] = False
    inputs = aug.gather(draws, n)
    spans = np.array([[1000, 9000], [20000, 40000]])
    source = Source(dry, inputs.brir[0])
    wet = render([source], delay=int(inputs.delay[0]), spans=spans).audio.astype(np.float64)
    mixed = render([source], delay=int(inputs.delay[0]), noise=inputs.noise[0], snr_db=snr, spans=spans).audio
    noise = mixed.astype(np.float64) - wet
    assert 10 * np.log10(np.mean(wet**2) / np.mean(noise**2)) == pytest.approx(snr, abs=0.1)


def test_point_sources_are_the_recording_through_the_brirs(bank, corpus):
    """With a scene's noise sources, the noise minus its diffuse part is one recording through a weighted sum
    of the noise-source BRIRs: a least-squares fit of the left ear on the recording convolved with each
    source's BRIR (scipy) leaves only the (uncorrelated, -12..0 dB) diffuse part."""
    from scipy.signal import fftconvolve

    from wavjepa_nat.data.noise_corpus import NoiseCorpus

    scene = _wet_scene(bank)
    h = bank.noise_brirs(scene)
    signals = NoiseCorpus(corpus, "train", FS)
    n, length = 2 * FS, h.shape[-1]
    noise = SceneNoise(signals, DiffuseField.of(bank))(h, 1, 0.25, 11, n)
    x = signals.segment(1, 0.25, n + length - 1).astype(np.float64)
    columns = [fftconvolve(x, h[k, 0].astype(np.float64))[length - 1 : length - 1 + n] for k in range(len(h))]
    a = np.stack(columns, axis=1)
    coef, *_ = np.linalg.lstsq(a, noise[0].astype(np.float64), rcond=None)
    residual = noise[0] - a @ coef
    explained = 1 - np.mean(residual**2) / np.mean(noise[0].astype(np.float64) ** 2)
    assert explained > 1 / (1 + 10 ** (0 / 10)) - 0.05  # the diffuse part is at most 0 dB re the sources
    assert np.all(coef > 0)  # every source plays the recording (gains -6..0 dB)


@pytest.mark.parametrize("mode", ["builtin", "corpus"])
def test_numpy_and_torch_agree_and_draws_repeat(bank, corpus, mode):
    cfg = AugmentConfig(
        noise=mode, noise_corpus=str(corpus) if mode == "corpus" else None, split=None, crop_samples=8000
    )
    aug = Augmenter(bank, cfg, FS)
    n = 2 * FS
    dry = np.random.default_rng(2).standard_normal((3, n)).astype(np.float32)
    out = []
    for _ in range(2):  # the same seed in a fresh augmenter: the same crops (resumable)
        fresh = Augmenter(bank, cfg, FS)
        rng = np.random.default_rng(5)
        draws = [fresh.draw(rng, 1, n) for _ in range(3)]
        inputs = [fresh.gather(d, n) for d in draws]
        out.append(
            np.concatenate(
                [augment_batch(dry[i : i + 1], d, x, cfg) for i, (d, x) in enumerate(zip(draws, inputs))]
            )
        )
    assert np.array_equal(out[0], out[1])
    # torch from the same draws: the noise made in the workers, or (--augment-on gpu) from its parts on the
    # device (render.batch.scene_noise_torch), the workers only reading the recording.
    for noise_parts in (False, True):
        inputs = [fresh.gather(d, n, noise_parts=noise_parts) for d in draws]
        batches = [to_torch_batch(dry[i : i + 1], d, x) for i, (d, x) in enumerate(zip(draws, inputs))]
        batch = {k: torch.cat([b[k] for b in batches]) for k in batches[0]}
        assert ("noise_signal" in batch) == noise_parts
        crops = NaturalisticAugment(cfg)(batch).numpy()
        assert np.allclose(crops, out[0], atol=2e-4)
    assert aug.cfg.noise == mode


def test_auto_is_builtin_without_beds_and_bed_with(bank, tmp_path):
    assert Augmenter(bank, AugmentConfig(noise="auto", split=None), FS).cfg.noise == "builtin"
    with_beds = tmp_path / "beds.h5"
    simulate_bank(with_beds, replace(CFG, noise_beds=True, noise_bed_seconds=0.5), 2, progress=False)
    aug = Augmenter(RIRBank(with_beds), AugmentConfig(noise="auto", split=None), FS)
    assert aug.cfg.noise == "auto" and aug.scene_noise is None  # auto with beds: the beds, as before


def test_sweep_pools_draw_the_corpus_split_they_are_given(bank, tmp_path):
    """ScenePools.noise with a corpus: the test pools play only test-split recordings (a 3 kHz tone), the
    training pools only train-split ones (500 Hz); without a corpus, a bed-less bank is refused."""
    from wavjepa_nat.data.render import ScenePools
    from wavjepa_nat.errors import InputError

    root = tmp_path / "tones"
    t = np.arange(2 * FS) / FS
    for split, hz in (("tr", 500.0), ("tt", 3000.0)):
        (root / split).mkdir(parents=True)
        sf.write(root / split / "tone.wav", 0.3 * np.sin(2 * np.pi * hz * t), FS)
    scene = _wet_scene(bank)
    f = np.fft.rfftfreq(FS, 1 / FS)
    for split, hz in (("test", 3000.0), ("train", 500.0)):
        pools = ScenePools(bank, (), ("train",), scene_noise=SceneNoise.from_corpus(bank, str(root), split))
        noise = pools.noise(scene, 0.37, FS)
        spectrum = np.abs(np.fft.rfft(noise[0] * np.hanning(FS)))
        assert f[np.argmax(spectrum)] == pytest.approx(hz, abs=5)
        assert pools.noise_text().startswith("NoiseCorpus(") and f"{split}," in pools.noise_text()
    with pytest.raises(InputError, match="--beds none"):
        ScenePools(bank, (), ("train",)).noise(scene, 0.5, 100)
