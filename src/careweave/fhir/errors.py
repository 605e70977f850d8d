"""Domain exceptions for FHIR processing, each carrying what an OperationOutcome needs.

The store and the domain raise these without knowing about HTTP; the API maps them to an
OperationOutcome response in one place, using `status` for the HTTP status and `issues` for
``OperationOutcome.issue``. Keeping the status and IssueType code on the class means every
raiser of, say, `VersionConflict` answers 412 "conflict" without repeating it.

The subclasses are named for the situation (`NotFound`, `Gone`), as FHIR and HTTP name them,
rather than with an ``Error`` suffix; hence the ``noqa: N818`` on each.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Conflict",
    "DanglingReference",
    "FhirError",
    "Gone",
    "InvalidResource",
    "InvalidSearch",
    "Issue",
    "MalformedRequest",
    "NotFound",
    "NotSupported",
    "PayloadTooLarge",
    "RequestMismatch",
    "UnknownResourceType",
    "UnsupportedMediaType",
    "VersionConflict",
]


@dataclass(frozen=True)
class Issue:
    """One ``OperationOutcome.issue``.

    `severity` is fatal, error, warning or information; `code` is from the FHIR IssueType value
    set (invalid, structure, required, value, not-found, ...); `expression` holds FHIRPath
    expressions locating the problem, e.g. ``Patient.name[0].family``.
    """

    severity: str
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()


class FhirError(Exception):
    """Base: carries an HTTP status, an OperationOutcome issue code and FHIRPath expressions.

    Pass `issues` when one request has several problems (validation reports every bad element,
    not only the first); otherwise a single error issue is built from the message.
    """

    status: int = 400
    code: str = "invalid"

    def __init__(
        self,
        message: str,
        *,
        expression: list[str] | None = None,
        issues: list[Issue] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expression: tuple[str, ...] = tuple(expression or ())
        self._issues: tuple[Issue, ...] = tuple(issues or ())

    @property
    def issues(self) -> list[Issue]:
        """The issues to report, never empty."""
        if self._issues:
            return list(self._issues)
        return [
            Issue(
                severity="error",
                code=self.code,
                diagnostics=self.message,
                expression=self.expression,
            )
        ]


class InvalidResource(FhirError):  # noqa: N818
    """The body parsed as JSON but is not a valid FHIR resource of the kind expected."""

    status = 422
    code = "invalid"


class RequestMismatch(FhirError):  # noqa: N818
    """The body disagrees with the request URL (its resourceType or id): R4 http.html says 400."""

    status = 400
    code = "invalid"


class MalformedRequest(FhirError):  # noqa: N818
    """The request cannot be read at all, e.g. the body is not JSON or not a JSON object."""

    status = 400
    code = "structure"


class InvalidSearch(FhirError):  # noqa: N818
    """A search value of the wrong form, or an unknown parameter under ``handling=strict``."""

    status = 400
    code = "invalid"


class NotFound(FhirError):  # noqa: N818
    """No resource has ever existed with that type and id (or version)."""

    status = 404
    code = "not-found"


class Gone(FhirError):  # noqa: N818
    """The resource existed but its current version is a deletion."""

    status = 410
    code = "deleted"


class VersionConflict(FhirError):  # noqa: N818
    """A precondition failed: a stale If-Match, or a conditional operation matched several."""

    status = 412
    code = "conflict"


class Conflict(FhirError):  # noqa: N818
    """The request clashes with the current state of the store, e.g. a duplicate id."""

    status = 409
    code = "conflict"


class UnsupportedMediaType(FhirError):  # noqa: N818
    """The Content-Type is not a FHIR JSON type we accept."""

    status = 415
    code = "not-supported"


class PayloadTooLarge(FhirError):  # noqa: N818
    """The body is larger than the server is willing to parse."""

    status = 413
    code = "too-costly"


class NotSupported(FhirError):  # noqa: N818
    """A well-formed request for something this server does not do (an operation, a modifier)."""

    status = 400
    code = "not-supported"


class DanglingReference(FhirError):  # noqa: N818
    """A reference inside the resource points at a resource that is not in the store."""

    status = 422
    code = "invalid"


class UnknownResourceType(FhirError):  # noqa: N818
    """The URL names a resource type this server does not serve."""

    status = 404
    code = "not-supported"


class Unauthenticated(FhirError):  # noqa: N818
    """No valid credentials: a missing, unknown, expired or revoked token or session."""

    status = 401
    code = "login"


class Forbidden(FhirError):  # noqa: N818
    """Known credentials that do not allow this (a scope or role that does not cover it).

    Never used where it would tell the caller that a record they may not see exists: that is
    answered as NotFound, the same as a record that does not exist.
    """

    status = 403
    code = "forbidden"
