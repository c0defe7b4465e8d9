"""The exception hierarchy: user errors (exit 2) carry one line per problem; the rest exit 1."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input, located as precisely as the input allows."""

    where: str
    """The file, or the source/SLO/query, the problem was found in."""
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        location = self.where
        if self.row is not None:
            location += f": row {self.row}"
        if self.column is not None:
            location += f": column {self.column}"
        return f"{location}: {self.message}"


class ReliabilityError(Exception):
    """Base class of every error the command line reports without a traceback."""

    exit_code = 1


class InputError(ReliabilityError):
    """Bad input or config: exit code 2 and one line per problem."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(where="input", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SourceError(ReliabilityError):
    """A source could not be reached or answered wrongly (network, server error): exit 1."""


class RenderError(ReliabilityError):
    """A report notebook failed to execute or export: exit 1."""


class OutOfMemoryError(ReliabilityError):
    """An input too large for the memory of this machine: exit 1 (the input is not wrong),
    with what to do about it."""
