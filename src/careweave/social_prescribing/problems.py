"""What can go wrong in the directory of community services, in words a person can act on.

Transports turn these into their own answers (a page's error message, a CLI's one line, an
OperationOutcome) in one place each; the messages are written to be shown as they are.
"""

from __future__ import annotations


class DirectoryProblem(Exception):  # noqa: N818 - named for the situation, as fhir.errors
    """Something asked of the directory that it cannot do; the message says why."""


class NotAPostcode(DirectoryProblem):
    """Text that is not written like a UK postcode."""


class UnknownPostcode(DirectoryProblem):
    """A well-formed postcode the directory has no position for, so it cannot measure
    distances from it (an empty list would wrongly say nothing is nearby)."""


class ServiceNotFound(DirectoryProblem):
    """A service id that is not in the directory."""


class ChangedSinceRead(DirectoryProblem):
    """Someone else changed the entry since it was read; read it again and redo the change."""
