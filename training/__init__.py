"""DeepSpeed training of the Genie stack: entry point (`train.py`), DeepSpeed configs, hostfile example."""
