"""Robustness reports: result rows (rows.py), the report model and its rendering (document.py, templates/),
sections (sections.py, localisation.py), plots (plots.py, localisation_plots.py), model descriptions
(model_info.py), and the files written, read back and merged (results.py)."""
