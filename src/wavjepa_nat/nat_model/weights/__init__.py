"""Saved weights: this project's checkpoints and exports, the reference's published weights, --init-from.

export.py            load_model (any source -> Encoder), export_weights, import_weights (.safetensors)
checkpoint.py        our Lightning .ckpt: stored model config, weights by part
names.py             tensors saved under earlier module names, read under today's
torch_file.py        torch.load without running pickled code
reference_files.py   reading the reference's .ckpt / Hugging Face files
reference_config.py  the ModelConfig that runs the reference's computation
reference.py         the reference's tensor names mapped onto ours
init_from.py         train --init-from
"""
