"""How a sweep can end without results (kept apart from the Ray-importing modules, so ``ganlab`` starts fast)."""


class SweepInterrupted(RuntimeError):
    """The driver was stopped before every trial ended; the sweep can be resumed."""


class SweepFailed(RuntimeError):
    """No trial measured the objective (all diverged or crashed): there is no winner to write."""


class TrialsLost(RuntimeError):
    """Trials of a finished sweep ended in an error; the outputs are written, the failed trials can be retried."""
