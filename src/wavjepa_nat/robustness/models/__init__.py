"""What a sweep can embed, behind one interface (interface.py): our checkpoints and exports, HEAR 2021
modules, the log-mel statistics and GCC-PHAT + ILD baselines; plus `wavjepa-nat embed` (embed_files.py)
and the per-stage embeddings of a binaural encoder (stages.py)."""
