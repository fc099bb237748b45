"""A tiny random wav2vec2 saved as a Hugging Face folder (built with transformers, nothing downloaded)."""


def make_wav2vec2(folder, sampling_rate: int = 16000):
    import torch
    import transformers

    config = transformers.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2,
        vocab_size=8,
    )
    torch.manual_seed(0)
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=sampling_rate).save_pretrained(folder)
    return folder
