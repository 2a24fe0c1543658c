"""The framework-agnostic training loop: LR schedule, metrics, loop, run directory and one run."""

from .loop import Diverged, LoopOutcome, LoopState, TrainLoop
from .metrics import EvalAccumulator, EvalResult, accuracy, cross_entropy
from .rundir import RunDir, make_run_id
from .schedule import LearningRateSchedule, learning_rate

__all__ = [
    "Diverged",
    "EvalAccumulator",
    "EvalResult",
    "LearningRateSchedule",
    "LoopOutcome",
    "LoopState",
    "RunDir",
    "TrainLoop",
    "accuracy",
    "cross_entropy",
    "learning_rate",
    "make_run_id",
]
