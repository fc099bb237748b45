"""train --mix-prob (issue 20): mixture scenes and the source-retention target. P = 0 is today's training bit
for bit: its losses are compared with numbers recorded from the code before mixtures existed."""

import pytest
from _training import StepLosses, tiny_train_config

from wavjepa_nat.errors import InputError
from wavjepa_nat.training.loop import train

# Losses of steps 1-3, recorded from the unchanged code (commit ec1cc7d) with _cfg below, whose default
# binaural layout was "spatial" (pinned below; the default is now "apart").
RECORDED = {
    ("cpu", "same"): [1.0209953784942627, 1.0011204481124878, 0.9694768786430359],
    ("gpu", "dry"): [1.019477367401123, 0.9993546605110168, 0.9851552248001099],
}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(corpus, bank, out, **kw):
    return tiny_train_config(
        corpus, out, bank, **{"clean_ratio": 0.25, "batch_clips": 2, "max_steps": 3, **kw}
    )


@pytest.mark.parametrize(("augment_on", "teacher_input"), list(RECORDED))
def test_mix_prob_zero_gives_the_recorded_losses_bit_for_bit(
    corpus_and_bank, tmp_path, augment_on, teacher_input
):
    corpus, bank = corpus_and_bank
    steps = StepLosses()
    cfg = _cfg(
        corpus, bank, tmp_path / "run", augment_on=augment_on, teacher_input=teacher_input, layout="spatial"
    )
    train(cfg, progress=False, callbacks=[steps])
    assert [steps.losses[k] for k in sorted(steps.losses)] == RECORDED[(augment_on, teacher_input)]


@pytest.mark.parametrize(("teacher_input", "target"), [("same", "retention"), ("dry", "mixture")])
def test_mixture_training_gives_the_same_losses_on_both_augmentation_paths(
    corpus_and_bank, tmp_path, teacher_input, target
):
    corpus, bank = corpus_and_bank
    losses = {}
    for mode in ("cpu", "gpu"):
        steps = StepLosses()
        cfg = _cfg(
            corpus,
            bank,
            tmp_path / mode,
            augment_on=mode,
            teacher_input=teacher_input,
            max_steps=2,
            mix_prob=0.8,
            mix_target=target,
        )
        train(cfg, progress=False, callbacks=[steps])
        losses[mode] = [steps.losses[k] for k in sorted(steps.losses)]
    assert losses["cpu"] == pytest.approx(losses["gpu"], rel=1e-4)
    assert losses["cpu"][0] != RECORDED[("cpu", "same")][0]  # the mixtures changed the batches


def test_a_mixture_run_resumes_exactly_and_keeps_its_mixture_options(corpus_and_bank, tmp_path):
    corpus, bank = corpus_and_bank
    mix = {"mix_prob": 0.8, "model_overrides": {"total_steps": 4, "warmup_steps": 1, "ema_ramp_steps": 4}}
    unbroken, first, second = StepLosses(), StepLosses(), StepLosses()
    train(_cfg(corpus, bank, tmp_path / "a", max_steps=4, **mix), progress=False, callbacks=[unbroken])
    train(_cfg(corpus, bank, tmp_path / "b", max_steps=2, **mix), progress=False, callbacks=[first])
    train(
        _cfg(corpus, bank, tmp_path / "b", max_steps=4, resume=True, **mix),
        progress=False,
        callbacks=[second],
    )
    for step in range(1, 5):
        resumed = first.losses.get(step, second.losses.get(step))
        assert resumed == pytest.approx(unbroken.losses[step], rel=1e-5, abs=1e-7), step
    with pytest.raises(InputError, match="--mix-prob 0.8 -> 0.5"):
        train(
            _cfg(corpus, bank, tmp_path / "b", max_steps=6, resume=True, **{**mix, "mix_prob": 0.5}),
            progress=False,
        )
