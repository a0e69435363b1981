"""The services: GUI-thread QObjects that own the app's state and its background workers.

`DataService` (corpus and tokenizer), `TrainingService` (the training worker and its events),
`RunsService` (open, new and recent runs), `InferenceService` (the one readable model for the
tabs that look inside it). The `Session` holds one of each; tabs subscribe to their signals.
"""
