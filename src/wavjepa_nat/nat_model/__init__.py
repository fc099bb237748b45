"""Waveform encoder, transformer, masks, JEPA objective, Lightning module and export."""
