"""What the face engine raises: `PortalError`s, each with its stable code and HTTP status.

The API's exception handler and `portal.error_pages.error_page` answer them as they are; no
caller translates them.
"""

from __future__ import annotations

from portal.errors import PortalError

MODELS_MISSING = "The face models are not installed on this server; an administrator must fix it."


class ImageError(PortalError):
    """A problem with one input image; ``which`` names the input ("a", "b", "image", a path)."""

    code = "image_error"
    status = 400

    def __init__(self, message: str, *, which: str | None = None, **details: object) -> None:
        super().__init__(message, details=dict(details))
        self.which: str | None = None
        if which is not None:
            self.for_image(which)

    def for_image(self, which: str) -> ImageError:
        """Tag the error with the input it came from and return it."""
        self.which = which
        self.details["which"] = which
        return self

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "details": dict(self.details)}


class InvalidImageError(ImageError):
    code = "invalid_image"
    status = 400


class ImageTooLargeError(ImageError):
    code = "image_too_large"
    status = 413


class NoFaceError(ImageError):
    code = "no_face"
    status = 422

    def __init__(self, which: str | None = None, message: str = "No face was found.") -> None:
        super().__init__(message, which=which)


class LowQualityError(ImageError):
    """Faces were found in the photo, but none passes the requested quality filter.

    ``check`` names what failed (size, exposure, sharpness, yaw, roll) for the face most
    likely meant: the largest one."""

    code = "low_quality"
    status = 422

    def __init__(
        self, message: str, *, check: str, which: str | None = None, **details: object
    ) -> None:
        super().__init__(message, which=which, check=check, **details)
        self.check = check


class ModelsNotFoundError(PortalError):
    """The dlib model files are missing: a deployment problem, not a user error."""

    code = "models_unavailable"
    status = 503

    def __init__(self, reason: str) -> None:
        super().__init__(MODELS_MISSING)
        self.reason = reason

    def __str__(self) -> str:
        # Clients get `message`, which names no server path; logs, tracebacks, /readyz and the
        # command line get where the files were looked for.
        return self.reason
