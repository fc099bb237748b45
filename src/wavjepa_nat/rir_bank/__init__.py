"""The HDF5 RIR bank: schema, writer (sharded, resumable, atomic), reader, merge, verify, info.

from wavjepa_nat.rir_bank import RIRBank
bank = RIRBank("bank.h5"); scene = bank[0]; scene.brir.shape  # (2, L)
"""

from wavjepa_nat.rir_bank.merge import merge_banks
from wavjepa_nat.rir_bank.reader import BankScene, RIRBank
from wavjepa_nat.rir_bank.verify import verify_bank
from wavjepa_nat.rir_bank.writer import simulate_bank

__all__ = ["BankScene", "RIRBank", "merge_banks", "simulate_bank", "verify_bank"]
