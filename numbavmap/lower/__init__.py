"""Lowering per-example NumPy code into scalar loops (the fuser behind ``numbavmap.fuse``).

One job per module, each layer using the one before:

* ``values``: what the fuser computes with (scalars, lazy arrays, operands,
  outputs) and the typed literals and conversions of generated source;
* ``shapes``: index maps that cost nothing at run time: broadcasting,
  static indexing and slicing, transposition;
* ``emit``: the emitter of the body's lines: fresh names, loops, scalar
  variables, accumulations and scratch buffers;
* ``rules``: NumPy functions and methods, each written as loops with the
  types (and the order of operations) Numba's own implementation gives;
* ``fuser``: the walk over the function's statements and expressions,
  including scalar ``if``/``else`` and ``for`` over static ranges;
* ``linalg``: ``np.linalg.solve``, ``inv`` and ``det`` of matrices up to 4x4
  written out in LAPACK's order (``solve`` of a vector by default, with
  LAPACK's bits where a probe finds them; the rest with ``fastmath=True``);
* ``vecmath``: vectorisable ``exp``, ``log`` and ``tanh`` that fused kernels
  call under ``fastmath=True``;
* ``libm``: the C library's ``exp`` and ``expf``, bit for bit, in a form that
  vectorises, which fused CPU kernels call by default where a probe finds
  it exact;
* ``extrema``: ``np.max`` and ``np.min`` of a vector as integer reductions
  that vectorise, with the loop's bits (``vecmath``, ``libm`` and ``extrema`` are the modules
  generated code imports).
"""
