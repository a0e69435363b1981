"""Bundled corpora, icons and styles, installed as the package `gptstudio.resources`."""
