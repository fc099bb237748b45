"""Training: the options (config.py, no torch), the Lightning module (module.py) and the loop (loop.py).

Nothing is imported here, so that `wavjepa-nat train --help` reads training.config without loading torch.
"""
