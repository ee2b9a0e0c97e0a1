"""One exception type for bad user input, so the CLI can print it as a single line."""


class GenieError(Exception):
    """A problem with what the user gave us (paths, configs, checkpoints, actions, prompts)."""
