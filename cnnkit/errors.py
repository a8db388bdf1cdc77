"""The exceptions cnnkit raises on bad input.

Each one subclasses the built-in exception a Python user would expect (``ValueError``,
``FileNotFoundError``), so ``except ValueError`` keeps working, and ``CnnkitError`` so the
command line can print the message without a traceback.
"""


class CnnkitError(Exception):
    """Base class: the message names the problem and how to fix it."""


class BadOptionError(CnnkitError, ValueError):
    """A builder option (``-o KEY=VALUE``) that the model does not take, or a value it refuses."""


class UnknownNameError(CnnkitError, ValueError):
    """A model or dataset name that is not registered; the message lists the known ones."""


class DatasetNotFoundError(CnnkitError, FileNotFoundError):
    """A dataset file is missing and may not be downloaded (offline, or downloads disabled)."""


class CorruptDatasetError(CnnkitError, ValueError):
    """A dataset file exists but is truncated, corrupted or not in the expected format."""


class RunExistsError(CnnkitError, FileExistsError):
    """The output folder already holds a finished training run that would be overwritten."""


class OutputFolderError(CnnkitError, OSError):
    """The output folder cannot be used: it is a file, lies under a file, or is not writable."""


class FolderLockedError(CnnkitError, RuntimeError):
    """Another process is writing into the same run folder."""


class TrainingDivergedError(CnnkitError, RuntimeError):
    """The loss became NaN or infinite; training stopped before saving the broken weights."""


class DiskFullError(CnnkitError, OSError):
    """The disk that a step writes to is full, or too full for the step to finish."""


class RunDamagedError(CnnkitError, RuntimeError):
    """A run folder's files are damaged beyond what resuming can repair."""


class RunFolderError(CnnkitError, FileNotFoundError):
    """The folder is not a usable training run (no model.keras, or a damaged one)."""


class BadInputFileError(CnnkitError, ValueError):
    """A file given to predict that cannot be read as it is (a WAV file, a text); the message names the
    file and the fix."""
