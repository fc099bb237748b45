import os

# One thread per process: the suite runs on 2 cores, often beside DataLoader workers.
os.environ.setdefault("OMP_NUM_THREADS", "1")
