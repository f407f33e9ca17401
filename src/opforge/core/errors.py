"""The one error root of opforge, with a distinct exit code per kind.

Only `opforge.cli.main` catches these; everything below raises. Each message says what is
wrong and how to fix it, so the CLI prints it as is, without a traceback.
"""

from __future__ import annotations


class OpforgeError(Exception):
    """Base of every error opforge reports to a user."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_json(self) -> dict:
        return {"kind": self.kind, "message": self.message, "details": self.details,
                "exit_code": self.exit_code}


class UserError(OpforgeError):
    """Bad input: a recipe, a flag, a release name, a path."""

    exit_code = 2
    kind = "user-error"


class RecipeError(UserError):
    """The recipe file does not validate; `details` holds one line per problem."""

    kind = "recipe-error"


class ReleaseError(UserError):
    """The release is unknown, or a pin it needs is unknown or not applicable."""

    kind = "release-error"


class VersionMismatch(UserError):
    """The installed framework is not the one the release pins."""

    exit_code = 3
    kind = "version-mismatch"


class ToolchainError(OpforgeError):
    """A tool opforge needs (framework, cmake, ninja, compiler) is missing or broken."""

    exit_code = 4
    kind = "toolchain-error"


class BuildError(OpforgeError):
    """Configuring or compiling a generated project failed."""

    exit_code = 5
    kind = "build-error"


class TestFailure(OpforgeError):
    """A test vector gave a wrong result, or an op failed to run."""

    __test__ = False  # not a pytest class
    exit_code = 6
    kind = "test-failure"


class CheckFailed(OpforgeError):
    """`opforge check` (or the audit after a build) found errors in a library."""

    exit_code = 8
    kind = "check-failed"


class ServerError(OpforgeError):
    """tritonserver did not come up, stopped while serving, or cannot be reached."""

    exit_code = 9
    kind = "server-error"


class LoaderError(OpforgeError):
    """The runtime loader refused an artifact (checksum or version mismatch)."""

    exit_code = 7
    kind = "loader-error"
