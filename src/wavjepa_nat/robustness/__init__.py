"""Robustness sweeps: models x conditions -> probe scores, drift and localisation, and their reports.

The sweep lives here (config.py, conditions.py, degrade.py, prepare.py -> classify.py -> localise.py ->
record.py, driven by sweep.py); what it embeds is in models/, the labelled data in tasks/, what it measures
in metrics/, what it writes in report/. `wavjepa-nat nat-hear` (nat_hear.py) writes naturalistic copies of
HEAR tasks.
"""
