"""The engine: tokenizers, corpora, datasets, model, trainer, sampling and checkpoints.

Nothing here imports Qt (a test enforces it) and nothing prints: long work is a generator or
takes a callback and reports small frozen dataclasses of plain data. Importing this package does
no work; import the submodule you need (`gptstudio.core.model`, `gptstudio.core.tokenizers`, ...).
"""
