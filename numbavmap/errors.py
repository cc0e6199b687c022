"""Exceptions raised by numbavmap beyond the built-in ValueError / TypeError."""


class CompileError(TypeError):
    """Numba could not compile the per-example function (or its kernel).

    The message starts with the function's name and ``file:line`` and keeps
    Numba's own reason, without the long chain of compiler frames.
    """
