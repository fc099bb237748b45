import os

# One thread per process: the suite runs on 2 cores, often beside DataLoader workers.
os.environ.setdefault("OMP_NUM_THREADS", "1")


import pytest


@pytest.fixture(scope="session")
def corpus_and_bank(tmp_path_factory):
    """A small built-in corpus (no speech) and a 20-scene bank, for the training tests."""
    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.scenes import SceneConfig

    root = tmp_path_factory.mktemp("train")
    make_corpus(root / "corpus", CorpusConfig(n_per_class=3, seconds=2.5, seed=0, speech=False))
    simulate_bank(
        root / "bank.h5",
        SceneConfig(rt60=(0.2, 0.6), noise_bed_seconds=3.0, scenes_per_room=2),
        20,
        progress=False,
    )
    return root / "corpus", root / "bank.h5"


@pytest.fixture(scope="session")
def dry_bank(tmp_path_factory):
    """A 12-room bank (RT60 0.2-0.4 s) for the localisation tests."""
    from wavjepa_nat.rir_bank import RIRBank, simulate_bank
    from wavjepa_nat.scenes import SceneConfig

    path = tmp_path_factory.mktemp("loc") / "bank.h5"
    simulate_bank(
        path,
        SceneConfig(rt60=(0.2, 0.4), noise_bed_seconds=2.0, scenes_per_room=2, split_per_ten_rooms=(4, 2, 4)),
        12,
        progress=False,
    )
    return RIRBank(path)


@pytest.fixture(scope="session")
def ten_scene_bank(tmp_path_factory):
    """A 10-scene bank (10 rooms: train, val and test scenes) with 1-2 noise sources and 2 s beds, for the
    tests that read a real bank (stream, augmentation, render)."""
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.scenes import SceneConfig

    path = tmp_path_factory.mktemp("bank") / "bank.h5"
    cfg = SceneConfig(rt60=(0.2, 0.5), noise_sources=(1, 2), scenes_per_room=1, noise_bed_seconds=2.0)
    simulate_bank(path, cfg, 10, workers=1, progress=False)
    return path


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test: OpenMP spin-waits collapse when the 2 cores are shared with other
    jobs (and a training test's data worker gets the other core)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
