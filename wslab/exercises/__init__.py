"""Exercise checks for the notebooks (top of the stack: may use every layer).

Each check returns a :class:`Result` that shows a green tick or a red hint in a
notebook.  A wrong answer never raises: the notebook keeps running top to
bottom, and the learner reads the hint.
"""

from ._result import Result

__all__ = ["Result"]
