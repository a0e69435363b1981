"""The Attention tab: every head of your own model, one head up close, and heads forming."""
