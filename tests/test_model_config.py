"""ModelConfig defaults, presets and binaural layouts, and configs read back from files."""

import dataclasses

import pytest

from wavjepa_nat.nat_model.config import BINAURAL_LAYOUTS, PRESETS, ModelConfig, get_preset, stored_config
from wavjepa_nat.nat_model.encoder import Encoder

LAYOUT_FIELDS = sorted(BINAURAL_LAYOUTS["apart"])


@pytest.mark.parametrize("name", list(PRESETS))
def test_no_argument_config_builds_every_presets_layout(name):
    default, preset = ModelConfig(), PRESETS[name]
    assert {f: getattr(default, f) for f in LAYOUT_FIELDS} == {f: getattr(preset, f) for f in LAYOUT_FIELDS}
    assert {f: getattr(default, f) for f in LAYOUT_FIELDS} == BINAURAL_LAYOUTS["apart"]


def test_no_argument_config_is_the_base_preset():
    assert ModelConfig() == PRESETS["base"]


def test_the_three_layouts_build_different_encoders():
    small = dict(conv_dim=8, embed_dim=16, heads=2, depth=1, top_k_targets=1)
    spatial = Encoder(get_preset("tiny", **small, **BINAURAL_LAYOUTS["spatial"]))
    reference = Encoder(get_preset("tiny", **small, **BINAURAL_LAYOUTS["reference"]))
    apart = Encoder(get_preset("tiny", **small))
    # spatial: one CNN for both ears and cues added to the tokens; reference: one CNN per ear, no cues;
    # apart: the reference's encoder, the cues appended to its output (49 values: 33 lags, 16 bands)
    assert (len(spatial.frontends), spatial.interaural is not None) == (1, True)
    assert (len(reference.frontends), reference.interaural is None) == (2, True)
    assert reference.config.ear_norm == "per_ear"
    assert (len(apart.frontends), apart.interaural, apart.config.ear_norm) == (2, None, "per_ear")
    assert (reference.output_dim, apart.output_dim) == (32, 32 + 2 * 16 + 1 + 16)


def test_a_stored_config_reads_back_as_saved():
    for layout in BINAURAL_LAYOUTS.values():
        cfg = get_preset("tiny", **layout)
        assert stored_config(cfg.to_dict()) == cfg


def test_a_config_stored_before_the_layout_fields_existed_is_the_reference_layout():
    """Files from before `ear_norm` and `interaural` were fields hold neither: those models had per-ear
    norms and no interaural path (with one CNN per ear, as their stored share_ear_encoders says)."""
    old = get_preset("tiny", share_ear_encoders=False).to_dict()
    del old["ear_norm"], old["interaural"]
    cfg = stored_config(old)
    assert (cfg.ear_norm, cfg.interaural, cfg.share_ear_encoders) == ("per_ear", "none", False)
    assert dataclasses.replace(cfg, **BINAURAL_LAYOUTS["apart"]) == PRESETS["tiny"]
