"""Domain errors. Each carries one of the contract's `extensions.code` values."""


class AimError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message)
        self.extensions = {"code": self.code, **extensions}


class Unauthenticated(AimError):
    code = "UNAUTHENTICATED"


class Forbidden(AimError):
    code = "FORBIDDEN"


class NotFound(AimError):
    code = "NOT_FOUND"


class BadUserInput(AimError):
    code = "BAD_USER_INPUT"


class Conflict(AimError):
    code = "CONFLICT"


class RateLimited(AimError):
    code = "RATE_LIMITED"


class QueryTooComplex(AimError):
    code = "QUERY_TOO_COMPLEX"
