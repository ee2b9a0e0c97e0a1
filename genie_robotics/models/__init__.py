"""The three Genie components, their container, and the interactive world model."""
