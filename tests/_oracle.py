"""An oracle embedder for sweep tests: its embeddings carry the clip's label, less often as the SNR falls.

It knows the task's dry clips and their labels. Given rendered audio it averages the ears, finds the dry
clip each input was rendered from (the highest normalised correlation rho) and estimates the input's SNR
from that correlation, 10 log10(rho^2 / (1 - rho^2)) (the power ratio of the part explained by the clip
to the rest). Each clip has its own threshold, spread evenly over `threshold_db` (a golden-ratio
sequence over the clips, so that any run of clips covers the range evenly): above it the
embedding is the one-hot of the clip's class, below it the one-hot of the next class. Any probe trained
on clean clips therefore reads the embedded class exactly, and the share of wrong embeddings grows as the
SNR falls (clean: all of them are right).

It records every call (`calls`: the estimated SNRs and embeddings), so a test can recompute the scores
the sweep reports from the embeddings themselves.
"""

import numpy as np


class Oracle:
    def __init__(self, task, channels: int = 1, threshold_db=(-12.0, 12.0), name: str = "oracle"):
        self.name, self.channels, self.sample_rate, self.notes = name, channels, 16000, []
        self.classes = list(task.classes)
        self.output_dim = len(self.classes)
        dry = np.concatenate([task.clips["train"], task.clips["test"]]).astype(np.float64)
        self.dry = dry / np.linalg.norm(dry, axis=1, keepdims=True)
        labels = np.concatenate([task.targets("train"), task.targets("test")])
        self.label_index = np.array([self.classes.index(lab) for lab in labels])
        lo, hi = threshold_db
        self.threshold = lo + (hi - lo) * np.mod(np.arange(len(dry)) * 0.6180339887, 1.0)
        self.calls: list[dict] = []

    def scene_embeddings(self, audio: np.ndarray) -> np.ndarray:
        x = np.asarray(audio, np.float64)
        x = x.mean(axis=1) if x.ndim == 3 else x
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        rho = x @ self.dry.T
        clip = rho.argmax(axis=1)
        r = np.clip(rho[np.arange(len(x)), clip], 1e-6, 1 - 1e-12)
        snr_db = 10 * np.log10(r**2 / (1 - r**2))
        heard = snr_db > self.threshold[clip]
        k = np.where(heard, self.label_index[clip], (self.label_index[clip] + 1) % self.output_dim)
        emb = np.eye(self.output_dim, dtype=np.float32)[k]
        self.calls.append({"snr_db": snr_db, "class": k, "true": self.label_index[clip], "embeddings": emb})
        return emb

    def predicted_labels(self, call: dict) -> np.ndarray:
        """The class names a call's embeddings stand for."""
        return np.array(self.classes)[call["class"]]
