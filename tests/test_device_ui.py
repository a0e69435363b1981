"""The Setup tab's device field and the status bar's device, driven through the real window.

The status bar names the device the trainer really uses (from `RunStarted`, which the worker
fills from the trainer's policy), not a guess from torch's probes: the test makes torch claim a
GPU while the run is set to the CPU, and the bar must still say CPU once training starts.
"""

from __future__ import annotations

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton

from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (QT_WARNINGS_FAIL, session, small_setup, status_label,
                               training_box, wait_for_idle, wait_step)

pytestmark = QT_WARNINGS_FAIL


def _device_field(window) -> QComboBox:
    field = window.findChild(QComboBox, "deviceField")
    assert field is not None
    return field


def test_the_device_field_offers_the_devices_and_refuses_an_absent_one(window, monkeypatch):
    field = _device_field(window)
    choices = [field.itemText(i) for i in range(field.count())]
    assert choices[:4] == ["auto", "cpu", "cuda", "mps"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    training_box(window).set_field("device", "cuda")
    error = window.findChild(QLabel, "deviceError")
    assert "CUDA GPU was asked for" in error.text() and "--device cpu" in error.text()
    assert training_box(window).config() is None  # Start waits for a device that is here
    assert not window.findChild(QPushButton, "startButton").isEnabled()
    training_box(window).set_field("device", "cpu")
    assert error.text() == ""
    assert training_box(window).config().device == "cpu"
    assert status_label(window, "device").startswith("Device: CPU")


def test_the_status_bar_names_the_device_the_run_really_uses(window, qtbot, monkeypatch):
    small_setup(window, steps=6, eval_interval=3)
    training_box(window).set_field("device", "cpu")
    # torch now claims a GPU: a bar asking torch.cuda would say so; the run is on the CPU.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Fake GPU")
    started = []
    session(window).training.run_started.connect(started.append)
    with wait_step(qtbot, window):
        qtbot.mouseClick(window.findChild(QPushButton, "startButton"),
                         Qt.MouseButton.LeftButton)
    assert started and started[0].device.startswith("CPU")
    assert status_label(window, "device").startswith("Training on CPU")
    wait_for_idle(qtbot, window)
    assert status_label(window, "device").startswith("Device: CPU")
    assert window.last_error is None
