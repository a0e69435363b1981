"""TrainControl on its own: one-shot requests and standing watches, and a paused wait that
ends for a request (the trainer side is in test_train_requests.py)."""

from __future__ import annotations

import threading

import pytest

from gptstudio.core.errors import ConfigError
from gptstudio.core.train import TrainControl


def test_one_shot_requests_are_taken_once_and_watches_fire_on_their_steps():
    control = TrainControl()
    assert not control.take_requests(step=1)
    control.request_weights()
    control.request_weights()  # twice before it is served: one answer
    control.request_attention("first")
    control.request_attention("second")  # replaces the one not yet served
    control.request_checkpoint()
    taken = control.take_requests(checkpoint=False)  # inside a step: the checkpoint waits
    assert (taken.checkpoint, taken.weights, taken.attention_prompts) == (False, True, ("second",))
    assert control.take_requests() == type(taken)(checkpoint=True)
    assert not control.take_requests()
    control.watch_weights(3)
    control.watch_attention("cat", 2)
    due = {s: control.take_requests(step=s) for s in range(1, 7)}
    assert [s for s, r in due.items() if r.weights] == [3, 6]
    assert [s for s, r in due.items() if r.attention_prompts == ("cat",)] == [2, 4, 6]
    assert not control.take_requests()  # periodic watches need a step
    control.request_attention("cat")
    assert control.take_requests(step=2).attention_prompts == ("cat",)  # not twice
    control.watch_attention("", 2)
    control.watch_weights(0)
    assert not control.take_requests(step=6)
    with pytest.raises(ConfigError, match="watch interval"):
        control.watch_weights(-1)
    with pytest.raises(ConfigError, match="watch interval"):
        control.watch_attention("cat", 1.5)


def test_a_paused_wait_ends_for_a_request_it_can_serve():
    control = TrainControl()
    control.pause()
    assert control.wait_while_paused(timeout=0) is False
    control.request_checkpoint()
    assert control.wait_while_paused(timeout=0, checkpoint=False) is False  # mid-step: not yet
    assert control.wait_while_paused(timeout=0) is True
    assert control.paused  # it woke for the request, still paused


@pytest.mark.parametrize("wake", ["resume", "request_weights"])
def test_a_resume_or_a_request_from_another_thread_wakes_a_waiting_trainer(wake):
    control = TrainControl()
    control.pause()
    woke = threading.Event()

    def trainer_thread():
        control.wait_while_paused()
        woke.set()

    thread = threading.Thread(target=trainer_thread)
    thread.start()
    getattr(control, wake)()
    thread.join(timeout=30)
    assert woke.is_set()
    assert control.paused == (wake != "resume")  # a request wakes it, still paused
