"""Domain errors. Each declares the gRPC status it maps to (by name, so this module stays free of
grpc); the API's error interceptor does the mapping. Messages are written for a CSR to read."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the engine reports to a caller on purpose."""

    status: str = "FAILED_PRECONDITION"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidArgument(DomainError):
    status = "INVALID_ARGUMENT"


class NotFound(DomainError):
    status = "NOT_FOUND"


class AlreadyExists(DomainError):
    status = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    status = "FAILED_PRECONDITION"


class ResourceExhausted(DomainError):
    status = "RESOURCE_EXHAUSTED"


class Unauthenticated(DomainError):
    status = "UNAUTHENTICATED"


class ValidationErrors(InvalidArgument):
    """Several field errors found in one pass, reported together."""

    def __init__(self, errors: list[InvalidArgument]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))
