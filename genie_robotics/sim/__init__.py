"""The learned simulator: `WorldModel` (the one rollout loop), its PyTorch and ONNX Runtime
backends, `load_world_model`, and the prompt frames a rollout starts from."""
