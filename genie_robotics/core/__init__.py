"""The lowest layer: configuration, errors, files written atomically, checkpoint files, option declarations.

Nothing here imports a model, a dataset reader or the command line.
"""
