"""models/stages.py: per-stage clip embeddings of a binaural encoder (checked against the encoder itself), the
interaural path's GCC-PHAT, and the per-stage benchmark on a tiny bank."""

import numpy as np
import torch

from wavjepa_nat.robustness.metrics.direction import LocalisationConfig


def test_interaural_path_and_stage_embeddings():
    from wavjepa_nat.nat_model import get_preset
    from wavjepa_nat.nat_model.encoder import Encoder
    from wavjepa_nat.robustness.models.stages import stage_embeddings, stage_tensors

    torch.manual_seed(0)
    cfg = get_preset(
        "tiny",
        conv_dim=16,
        embed_dim=32,
        heads=2,
        depth=2,
        top_k_targets=1,
        pred_dim=16,
        pred_heads=2,
        crop_samples=3360,
        ear_norm="joint",
        share_ear_encoders=True,
        interaural="gcc_ild",
    )
    enc = Encoder(cfg).eval()
    audio = torch.randn(2, 2, 3360)
    st = stage_tensors(enc, audio)
    with torch.no_grad():
        assert torch.allclose(st["tokens"].reshape(2, -1, 32), enc.tokens(audio), atol=1e-6)
        assert torch.allclose(
            st["output"].transpose(1, 2).reshape(2, st["output"].shape[2], -1), enc(audio), atol=1e-5
        )
    # the interaural features see a delay: GCC-PHAT peaks at +3 samples when the right ear lags by 3
    x = torch.randn(1, 3360)
    feats = enc.interaural.features(torch.stack([x, torch.roll(x, 3, dims=-1)], dim=1))
    lags = feats[0, :, : 2 * enc.interaural.max_lag + 1].mean(0)
    assert int(lags.argmax()) - enc.interaural.max_lag == 3
    emb = stage_embeddings(enc, np.random.default_rng(0).standard_normal((3, 2, 4000)).astype(np.float32))
    assert list(emb) == ["conv/ear0", "conv/ear1", "conv/both", "tokens", "block1", "block2", "output"]
    assert emb["conv/ear0"].shape == (3, 16) and emb["conv/both"].shape == (3, 32)
    assert emb["output"].shape == (3, 64)


def test_reduced_stage_measurement(dry_bank, tmp_path):
    """The per-stage benchmark on a tiny bank and corpus: every stage of every layout gets both probes."""
    import importlib.util
    from pathlib import Path

    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus

    spec = importlib.util.spec_from_file_location(
        "bench_spatial_stages", Path(__file__).parents[1] / "benchmarks" / "bench_spatial_stages.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    make_corpus(tmp_path / "corpus", CorpusConfig(n_per_class=3, seconds=1.0, speech=False))
    clips = bench.spatial_clips(dry_bank.path, tmp_path / "corpus", 1.0, 0, None, renders=2)
    assert len(clips["train"]) == 3  # audio, azimuths, elevations
    assert len(clips["train"][0]) > 0 and len(clips["test"][0]) > 0
    results = {}
    small = LocalisationConfig(max_elevation_deg=90.0, mlp_hidden=32, mlp_alphas=(1e-2,), mlp_max_iter=100)
    for layout in ("per_ear/separate", "joint/shared/gcc_ild"):
        model = bench.build_model(layout, 0, 0, tmp_path, dry_bank.path, tmp_path / "corpus", 1.0)
        results[layout] = bench.measure(model, clips, ("linear", "mlp"), loc_cfg=small)
    for r in results.values():
        assert {"conv/ear0", "conv/ear1", "conv/both", "tokens", "block1", "block3", "output"} <= set(r)
        assert all(np.isfinite(v["linear"]) and np.isfinite(v["mlp"]) for v in r.values())
    assert "| tokens |" in bench.table(results, ("linear", "mlp"))
