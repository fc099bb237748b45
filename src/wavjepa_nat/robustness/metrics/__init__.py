"""What a sweep measures: linear probes (probes.py), localisation geometry, chance levels and direction probes
(direction.py), embedding drift (drift.py), intervals and paired tests (stats.py)."""
