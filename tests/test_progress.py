"""pybench run's progress bar (tqdm): counts, label, an ETA rescaled by the observed rate,
a line per update off a terminal and one redrawn line on a terminal."""
import io
import re

from pybench import progress


class Clock:
    """Stands in for both clocks the bar reads: pybench's time.monotonic and tqdm's time."""

    def __init__(self):
        self.t = 1000.0

    def monotonic(self):
        return self.t

    __call__ = monotonic


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _bar(monkeypatch, stream, total=100.0, count=4):
    clock = Clock()
    monkeypatch.setattr(progress, "time", clock)
    bar = progress.ProgressBar(total, count, stream)
    bar._bar._time = clock
    bar._bar.start_t = bar._bar.last_print_t = clock.t
    return bar, clock


def test_eta_is_the_prediction_rescaled_by_the_observed_rate(monkeypatch):
    stream = io.StringIO()
    bar, clock = _bar(monkeypatch, stream)
    bar.show("alexnet cpu")  # nothing finished: the prediction itself, 100 s
    clock.t += 40  # the first item, predicted 20 s, took 40: twice the prediction
    bar.advance(20)
    bar.show("vgg16 cpu")  # 80 predicted seconds left at 2x: 160 s
    clock.t += 10
    bar.show("vgg16 cpu", running_s=10)  # of which the running item has taken 10
    assert bar.eta(running_s=10) == 150
    clock.t += 150
    bar.advance(80)
    bar.done = 4
    bar.show("done", final=True)
    bar.show("after the end")  # ignored
    lines = stream.getvalue().splitlines()
    assert lines == [
        "[------------------------] 0/4  alexnet cpu  elapsed 00:00  ETA 01:40",
        "[####--------------------] 1/4  vgg16 cpu  elapsed 00:40  ETA 02:40",
        "[######------------------] 1/4  vgg16 cpu  elapsed 00:50  ETA 02:30",
        "[########################] 4/4  done  elapsed 03:20  ETA 00:00",
    ]


def test_terminal_redraws_one_line(monkeypatch):
    stream = Terminal()
    bar, clock = _bar(monkeypatch, stream, total=10.0, count=2)
    bar.show("lenet5 cpu")
    clock.t += 5
    bar.advance(5)
    bar.show("resnet18 cpu")
    bar.advance(5)
    bar.show("done", final=True)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # the line ends once, at the end
    last = text.rstrip().split("\r")[-1]
    assert re.fullmatch(r"\[#{24}\] 2/2  done  elapsed 00:05  ETA 00:00 *", last), last
    assert "1/2  resnet18 cpu" in text and "ETA 00:05" in text


def test_unknown_rate_shows_no_eta(monkeypatch):
    stream = io.StringIO()
    bar, clock = _bar(monkeypatch, stream, total=4.0, count=2)
    bar.advance(2)  # finished in no measurable time
    bar.show("x")
    assert bar.eta() is None and stream.getvalue().rstrip().endswith("ETA ?")
