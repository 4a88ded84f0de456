"""Small exception classes. Each message follows one formula: what, expected, got, fix."""

from __future__ import annotations

from collections.abc import Iterable


class SerkitError(Exception):
    """Base class of every error serkit raises on purpose."""


class AudioError(SerkitError, ValueError):
    """An audio file or signal cannot be used (missing, corrupt, empty, too short, NaN, ...).

    Args:
        path: the file (or ``"<signal>"``) the problem is about.
        problem: what is wrong.
        fix: what the user can do about it.
    """

    def __init__(self, path: object, problem: str, fix: str) -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.path}: {problem}; {fix}")


class ConfigError(SerkitError, ValueError):
    """A recipe or override is invalid."""


class UnknownKeyError(SerkitError, KeyError):
    """A name is not one of the valid ones; the message lists them (like audformat's BadKeyError)."""

    def __init__(self, what: str, got: str, valid: Iterable[str]) -> None:
        self.what = what
        self.got = got
        self.valid = sorted(valid)
        super().__init__(f"unknown {what} {got!r}; expected one of {self.valid}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class SpeakerOverlapError(SerkitError, ValueError):
    """Train and test splits share a speaker in a run that claims to be speaker-independent."""


class ManifestError(SerkitError, ValueError):
    """A manifest row or corpus folder is malformed."""


class MissingDependencyError(SerkitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; install it with pip install 'serkit[{extra}]'"
        )


class ModelNotFoundError(SerkitError, FileNotFoundError):
    """A model name or folder cannot be resolved to local files."""


class CheckpointError(ModelNotFoundError):
    """A model file or run folder cannot be loaded: missing, unreadable, or not a serkit checkpoint.

    The one error of :func:`serkit.models.checkpoint.load_checkpoint`; a subclass of
    :class:`ModelNotFoundError` so ``except ModelNotFoundError`` callers keep working.
    """


class InferenceError(SerkitError, RuntimeError):
    """A model failed on an input at prediction time (e.g. ONNX Runtime on an exported graph)."""
