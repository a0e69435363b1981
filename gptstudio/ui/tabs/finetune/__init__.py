"""The Fine-tune tab: a pretrained run fine-tuned as a classifier or an instruction follower.

`tab.py` holds the tab (`FinetuneTab`); `setup_panel.py` its left column and `options.py` the
fields that make the engine's `FinetuneSpec`; `mask_view.py` the examples with their masked
tokens shaded; `results.py` the accuracy curves, the confusion matrix and the "try it" box.
The background work is the lab's (`ui/services/finetune.py`) and the training service's
(`ui/workers/finetune.py`).
"""
