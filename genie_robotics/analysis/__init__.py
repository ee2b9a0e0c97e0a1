"""What the model is measured with: evaluation, the latent-action probe, FVD, statistics and latent labels."""
