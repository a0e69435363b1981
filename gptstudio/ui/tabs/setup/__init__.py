"""The Setup tab: corpus, tokenizer, model and training settings for the next run."""
