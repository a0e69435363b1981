"""The Train tab: start, pause and stop training; live curves, samples and earlier runs."""
