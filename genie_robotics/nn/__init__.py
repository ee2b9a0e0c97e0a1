"""Building blocks shared by the tokenizer, the latent action model and the dynamics model."""
