"""SIGTERM and SIGINT raise Interrupted in a command, except inside a commit (deferred)."""

from __future__ import annotations

import os
import signal

import pytest

from tokensync import interrupts
from tokensync.errors import Interrupted


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_raises_interrupted(sig: signal.Signals, code: int) -> None:
    with pytest.raises(Interrupted) as info, interrupts.raising_on_signals():
        os.kill(os.getpid(), sig)  # os.kill runs the handler before it returns
        pytest.fail("not interrupted")
    assert (info.value.exit_code, info.value.signal_name) == (code, sig.name)


def test_a_commit_is_never_interrupted_and_its_outcome_stands() -> None:
    done = []
    with interrupts.raising_on_signals():
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("committed")
        done.append("reported")
    assert done == ["committed", "reported"]


def test_a_write_resumes_the_signal_once_it_is_whole() -> None:
    written = []
    with pytest.raises(Interrupted), interrupts.raising_on_signals():
        with interrupts.deferred(resume=True):
            os.kill(os.getpid(), signal.SIGINT)
            written.append("the whole chunk")
        written.append("never")
    assert written == ["the whole chunk"]


def test_the_previous_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with interrupts.raising_on_signals():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
