"""GPT Studio: build a GPT-style language model from scratch and watch it learn.

`gptstudio.core` is the engine (no Qt), `gptstudio.ui` the desktop app, `gptstudio.cli` the
headless command line.
"""

__version__ = "0.1.0"
