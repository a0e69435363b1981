"""The Tokenizer tab: text becomes tokens, tokenizers side by side, BPE learning, the vocabulary
and the windows the model trains on (see `tab.py`)."""
