"""Labelled data for a sweep: folders, manifests, corpora, WebDataset shards, the built-in corpus (task.py)
and HEAR 2021 task folders, naturalistic copies included (hear_folder.py)."""
