"""The `genie-robotics` command line: one module per command, their flags and messages."""
