"""Exceptions raised by numbavmap beyond the built-in ValueError / TypeError."""


class CompileError(TypeError):
    """Numba could not compile the per-example function (or its kernel).

    The message starts with the function's name and ``file:line`` and keeps
    Numba's own reason, without the long chain of compiler frames.
    """

    __module__ = "numbavmap"


def prefix(name: str, in_axes, out_axes) -> str:
    """How every numbavmap message about a vmap starts: ``vmap(f, in_axes=0, out_axes=0)``."""
    return f"vmap({name}, in_axes={in_axes!r}, out_axes={out_axes!r})"


def with_example_index(exc: Exception, index: int) -> Exception:
    """The same exception type and message, with the failing example's index added.

    The result keeps ``(exc, index)`` as ``vmap_example``, so that a caller
    that ran a slice of a larger batch can renumber it (``shift_example_index``).
    """
    new = _with_context(exc, f"in vmap example {index}", f"raised by vmap example {index}")
    new.vmap_example = (exc, index)
    return new


def shift_example_index(exc: Exception, offset: int) -> Exception:
    """``exc`` from ``with_example_index`` renumbered for a batch slice that starts
    at example ``offset``; any other exception unchanged."""
    original, index = getattr(exc, "vmap_example", (None, None))
    if original is None:
        return exc
    if original is exc:
        exc.__notes__.remove(f"raised by vmap example {index}")
    return with_example_index(original, offset + index)


def for_empty_batch(exc: Exception) -> Exception:
    """``exc``, raised on an empty batch's placeholder, saying what failed.

    The same type where its constructor allows, with ``exc`` as its cause.
    """
    what = ("the empty batch's output could not be determined: the function raised this "
            "on the zero-filled placeholder example that vmap traces for a batch of size 0")
    new = _with_context(exc, what, what)
    if new is not exc:
        new.__cause__ = exc
    return new


def _with_context(exc: Exception, context: str, note: str) -> Exception:
    """``type(exc)("<message> (<context>)")``, or ``exc`` with ``note`` added when
    its type takes other constructor arguments."""
    try:
        return type(exc)(f"{exc} ({context})")
    except Exception:  # noqa: BLE001 - exception types with other constructors
        exc.add_note(note)
        return exc
