"""Exceptions the CLI turns into one readable message and an exit code.

Every error a user can fix derives from BenchError. The CLI catches it once,
prints its message without a traceback and exits with its exit_code: 2 for bad
input or usage, 1 for a failed run or a missing resource.
"""


class BenchError(Exception):
    """An error a user can act on; its message names what failed and what to do."""

    exit_code = 1


class InputError(BenchError):
    """The input file or a command-line value is invalid."""

    exit_code = 2


class ResultFileError(BenchError):
    """A result file is missing, corrupt or of an unknown format version."""

    exit_code = 2


class SimulationError(BenchError):
    """The simulated pipeline hit an AWS limit that would fail the real run."""


class AwsBackendError(BenchError):
    """A deployment, run or teardown on AWS failed."""
