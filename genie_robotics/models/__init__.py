"""The three Genie components, their container, loading a checkpoint into it, and a single-process training loop."""
