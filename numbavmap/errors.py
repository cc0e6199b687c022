"""Exceptions raised by numbavmap beyond the built-in ValueError / TypeError."""


class CompileError(TypeError):
    """Numba could not compile the per-example function (or its kernel).

    The message starts with the function's name and ``file:line`` and keeps
    Numba's own reason, without the long chain of compiler frames.
    """

    __module__ = "numbavmap"


def with_example_index(exc: Exception, index: int) -> Exception:
    """The same exception type and message, with the failing example's index added."""
    message = f"{exc} (in vmap example {index})"
    try:
        return type(exc)(message)
    except Exception:  # noqa: BLE001 - exception types with other constructors
        exc.add_note(f"raised by vmap example {index}")
        return exc
