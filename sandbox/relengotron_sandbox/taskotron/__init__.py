"""The sandbox Taskotron: runs real checks on what the bus announces and posts the results to ResultsDB."""

from relengotron_sandbox.taskotron.runner import CHECKS, TaskotronRunner

__all__ = ["CHECKS", "TaskotronRunner"]
