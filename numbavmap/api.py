"""The ``vmap`` decorator and ``VmappedFunction``: the call path.

A call's data flows one way through rooms with one job each:
``calls.bind_call`` (flatten the arguments, check them against ``in_axes``,
the specialization key), ``trace`` (run the Python function once on one
example), ``Specialization.build`` (describe the kernel as ``numbavmap.ir``,
its body fused by ``numbavmap.fuse`` or a call), a target from
``numbavmap.targets`` (print, compile and launch; the CPU today) and
``execute.CallPlan`` (allocate, run, check, restack). ``VmappedFunction``
holds the caches between calls. See docs/architecture.md.
"""

from __future__ import annotations

import functools
import hashlib
import numbers
import operator
import threading
import warnings
from collections import namedtuple

import numba
import numpy as np
from numba.core import types
from numba.core.compiler_lock import global_compiler_lock
from numba.core.dispatcher import Dispatcher
from numba.extending import typeof_impl

from . import cache, errors, example_function, targets
from .calls import bind_call
from .execute import plan_for, plan_key
from .fingerprint import function_fingerprint
from .hot_call import HotCall, call_form
from .options import Options
from .specialize import Specialization
from .specs import normalize_spec
from .targets import cpu_entry, cpu_jit, dask_hook
from .targets.cpu import PARALLEL_THRESHOLD
from .trace import call_with_leaves, example_leaves, trace, zero_example_leaves

CacheInfo = namedtuple("CacheInfo", ["traces", "compilations", "hits", "currsize"])
CacheInfo.__doc__ = """Counters of a ``VmappedFunction``'s specialization cache.

traces: Python traces run (one per new specialization);
compilations: Numba compilations (per-example function and kernels; loads
from the on-disk cache do not count); hits: calls that found their
specialization; currsize: specializations held.
"""

#: Call plans kept per VmappedFunction (one per argument layout and batch size).
_MAX_PLANS = 64


class VmappedFunction(HotCall):
    """A per-example function mapped over a batch axis; see :func:`vmap`.

    Calling it runs the compiled kernel. Attributes: ``py_func`` (the
    per-example function; for a nested vmap, the inner ``VmappedFunction``),
    ``in_axes`` and ``out_axes`` (as given), ``options`` (the compile
    options, a frozen ``numbavmap.options.Options``), and the methods
    :meth:`cache_info`, :meth:`inspect_kernel`, :meth:`inspect_jit_kernel`
    and :meth:`explain`.
    """

    def __init__(self, fun, in_axes=0, out_axes=0, *, axis_size=None, parallel="auto",
                 fastmath=False, boundscheck=None, cache=False, target="cpu"):
        if not callable(fun):
            raise TypeError(f"vmap expects a function, got {type(fun).__name__}")
        if isinstance(fun, functools.partial):
            raise TypeError(
                "vmap needs a plain Python function, not functools.partial: Numba compiles "
                "the function's code; write a def that passes the fixed arguments (functions "
                "it calls must be @numba.njit), or pass them unmapped with in_axes=None"
            )
        self.py_func = fun.py_func if isinstance(fun, Dispatcher) else fun
        self.in_axes = in_axes
        self.out_axes = out_axes
        self.in_axes_spec = normalize_spec(in_axes, "in_axes")
        self.out_axes_spec = normalize_spec(out_axes, "out_axes")
        self.axis_size = _checked_axis_size(axis_size)
        #: The compile options, one frozen value (see ``numbavmap.options``).
        self.options = Options.checked(parallel=parallel, fastmath=fastmath,
                                       boundscheck=boundscheck, cache=cache, target=target)
        if self.options.target not in targets.names():
            raise ValueError(f"target={target!r} is not a known target; "
                             f"use one of {targets.names()}")
        functools.update_wrapper(self, self.py_func, updated=())
        nested = isinstance(self.py_func, VmappedFunction)
        #: The vmaps from this one inwards; the last one's py_func is plain Python.
        self.chain = [self] + (self.py_func.chain if nested else [])
        self.innermost = self.chain[-1].py_func
        self._param_names: dict = {}
        self._per_example = None
        #: Held while a specialization is traced, typed and compiled, so that
        #: concurrent first calls trace once and compile once.
        self._lock = threading.RLock()
        self._specializations: dict = {}
        self._plans: dict = {}
        #: Loaded kernel dispatchers by generated source, and each
        #: specialization's launcher of one of them.
        self._kernels: dict = {}
        self._launchers: dict = {}
        self._counts = {"traces": 0, "compilations": 0, "hits": 0}
        #: The compiled entry of the first plan called ``cpu_entry.HOT_CALLS``
        #: times, and the form of the calls it takes (``hot_call.call_form``);
        #: ``_entry_allowed`` turns False once one was made or refused, so
        #: that a vmap compiles at most one.
        self._entry_form = None
        self._entry = None
        self._entry_allowed = True
        self._entry_hits = 0

    def __repr__(self) -> str:
        return (f"<VmappedFunction {self.__name__} in_axes={self.in_axes!r} "
                f"out_axes={self.out_axes!r}>")

    @property
    def per_example(self):
        """The Numba dispatcher of the innermost per-example function (``print`` silenced)."""
        if self._per_example is None:
            self._per_example = example_function.compile_per_example(
                self.innermost, fastmath=self.options.fastmath,
                boundscheck=self.options.boundscheck, cache_key=self._cache_key)
        return self._per_example

    @functools.cached_property
    def fingerprint(self) -> str:
        """The per-example function's code, closure values and the globals and helpers
        it uses, and the Numba options it is compiled with (Numba's own cache key
        leaves them out), as a sha256 hex digest: the on-disk key of ``cache=True``."""
        key = f"{function_fingerprint(self.innermost)} {self.options.key()}"
        return hashlib.sha256(key.encode()).hexdigest()

    @functools.cached_property
    def _target(self):
        """The target object (imported at first use: optional targets bring
        optional dependencies)."""
        return targets.get(self.options.target)

    @property
    def _cache_key(self) -> str | None:
        """The fingerprint with ``cache=True`` (computed at the first compile), else None."""
        return self.fingerprint if self.options.cache else None

    @functools.cached_property
    def jit_entry(self):
        """The Numba dispatcher Numba calls when compiled code calls this function."""
        return cpu_jit.jit_entry(self)

    def cache_info(self) -> CacheInfo:
        """``(traces, compilations, hits, currsize)`` of the specialization cache."""
        counts = dict(self._counts, hits=self._counts["hits"] + self._entry_hits)
        return CacheInfo(currsize=len(self._specializations), **counts)

    def _call_by_plan(self, *args, **kwargs):
        """A call the compiled entry did not answer (``HotCall`` calls this)."""
        key, leaves = plan_key(args, kwargs)
        plan = self._plans.get(key)  # plans are never stored under None
        if plan is not None:
            self._counts["hits"] += 1
            plan.calls_until_entry -= 1
            if not plan.calls_until_entry:
                self._make_entry(plan, leaves)
            return plan.run(leaves)
        # Only CPU calls store plans: other targets and Dask arrays come here.
        if self.options.target != "cpu" and hasattr(self._target, "call"):
            return self._target.call(self, args, kwargs)  # its own launch sequence
        if dask_hook.has_dask_array(args, kwargs):
            from .targets.dask import dask_call
            return dask_call(self, args, kwargs)
        call = self._bind(args, kwargs)
        spec = self._specialization(call)
        launcher = self._launcher(call.key, spec) if call.size else None
        plan = plan_for(spec, call, self._target, launcher, self.options,
                        self._runs_parallel(call, spec))
        result = plan.run(call.leaves)
        if key is not None and all(map(operator.is_, leaves, call.leaves)):
            if launcher is not None:  # compiled now: later calls skip the counting wrapper
                plan = plan.with_kernel(launcher.entry,
                                        typed=launcher.entry is not launcher.dispatcher)
                form = call_form(args, kwargs)
                if self._entry_allowed and form is not False and cpu_entry.wants_entry(plan):
                    plan.calls_until_entry = cpu_entry.HOT_CALLS
                    plan.dispatcher = launcher.dispatcher
                    plan.entry_form = form
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return result

    def _make_entry(self, plan, leaves):
        """Compile ``plan``'s entry now that it is hot (``cpu_entry``); a failure
        warns and leaves every call on the plan path."""
        with self._lock:
            if not self._entry_allowed:
                return
            self._entry_allowed = False
            try:
                entry = cpu_entry.compile_entry(plan, plan.dispatcher, leaves)
            except Exception as exc:  # an optimisation: never a reason to fail a call
                warnings.warn(f"{self._error_prefix()}: no compiled entry for a hot call "
                              f"({type(exc).__name__}: {exc}); calls keep the plan path",
                              RuntimeWarning, stacklevel=3)
                return
            self._counts["compilations"] += 1
            self._entry_form = plan.entry_form  # before the entry: calls read both
            self._entry = entry

    def __reduce__(self):
        """Pickles as ``py_func`` and the options; a process rebuilds one per token."""
        return dask_hook.reduce(self)

    def __dask_tokenize__(self) -> str:
        """Dask's token: the function's fingerprint and every level's options."""
        return dask_hook.token(self)

    def inspect_kernel(self, *args, **kwargs) -> str:
        """The generated kernel source that a call with these arguments would run."""
        spec = self._specialization(self._bind(args, kwargs), count_hit=False)
        return self._target.emit(spec.description, self.options)

    def inspect_jit_kernel(self, *args) -> str:
        """The wrapper and kernel sources that compiled (``@njit``) code runs when it
        calls this function with arguments of these values' Numba types."""
        return "\n\n".join(cpu_jit.jit_sources(self, [numba.typeof(a) for a in args]))

    def explain(self, *args, **kwargs) -> str:
        """A short report on what a call with these arguments runs.

        Whether the per-example body is fused, and if not the first construct
        that stopped fusion with its ``file:line``; the specialization key
        (each argument's per-example shape, dtype, layout and mapped axis);
        the target; and the parallel decision. Compiles no kernel (a new
        specialization is traced and typed, as for ``inspect_kernel``).
        """
        call = self._bind(args, kwargs)
        spec = self._specialization(call, count_hit=False)
        not_fused = spec.description.not_fused
        body = "fused" if not_fused is None else f"not fused: {not_fused}"
        arguments = [f"  {name}: {_describe_leaf(key)}"
                     for name, key in zip(call.names, call.key[0])]
        return "\n".join([
            f"{self._error_prefix()} on {call.size} examples",
            f"body: {body}",
            "specialization key:", *arguments,
            f"target: {self.options.target}",
            f"loop: {self._loop_decision(call, spec)}",
        ])

    def _loop_decision(self, call, spec: Specialization) -> str:
        """How the examples are spread over the hardware, and why (for ``explain``)."""
        if self.options.target != "cpu":  # described without importing the target
            return "one CUDA thread per example (grid-stride)"
        parallel = self.options.parallel
        work = call.size * spec.work
        rule = (f"parallel='auto': {work} work units "
                f"{'>=' if work >= PARALLEL_THRESHOLD else '<'} {PARALLEL_THRESHOLD}"
                if parallel == "auto" else f"parallel={parallel!r}")
        decision = "parallel (prange)" if self._runs_parallel(call, spec) else "serial"
        return f"{decision} ({rule})"

    def _runs_parallel(self, call, spec: Specialization) -> bool:
        """The parallel decision for this call: ``parallel``, or "auto"'s work rule."""
        return self._target.runs_parallel(self.options, call.size, spec.work)

    def _error_prefix(self) -> str:
        return errors.prefix(self.__name__, self.in_axes, self.out_axes)

    def _bind(self, args, kwargs):
        names = self._param_names.get(len(args))
        if names is None:
            names = self._param_names[len(args)] = example_function.signature_names(
                self.innermost, len(args))
        try:
            return bind_call(args, kwargs, self.in_axes_spec, names, self.axis_size)
        except (ValueError, TypeError, OverflowError) as exc:
            raise type(exc)(f"{self._error_prefix()}: {exc}") from None

    def _bind_levels(self, call) -> list:
        """The call at every nesting level, bound on example 0 of the level outside it."""
        calls = [call]
        for inner in self.chain[1:]:
            outer = calls[-1]
            leaves = example_leaves(outer, 0) if outer.size else zero_example_leaves(outer)
            args, kwargs = call_with_leaves(lambda *a, **k: (a, k), outer, leaves)
            calls.append(inner._bind(args, kwargs))
        return calls

    def _specialization(self, call, count_hit: bool = True) -> Specialization:
        spec = self._specializations.get(call.key)
        if spec is None:
            with self._lock:
                spec = self._specializations.get(call.key)
                if spec is None:
                    return self._specialize(call)
        self._counts["hits"] += count_hit
        return spec

    def _specialize(self, call) -> Specialization:
        """Trace, type and describe a new specialization (holding ``_lock``), or with
        ``cache=True`` load it from disk."""
        path = None
        if self.options.cache:
            levels = [(vf.in_axes_spec, vf.out_axes_spec) for vf in self.chain]
            path = cache.spec_path(self.fingerprint, call.key, levels)
            stored = cache.load(path)
            if isinstance(stored, Specialization):
                spec = self._specializations[call.key] = stored.attached(self.chain)
                return spec
        calls = self._bind_levels(call)
        compiled_before = self._compiled_count()
        self._counts["traces"] += 1
        result = trace(self.innermost, calls[-1])
        try:
            with global_compiler_lock:  # Numba's typing context is not thread-safe
                spec = Specialization.build(self.chain, calls, result)
        except example_function.CompileError:
            raise
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{self._error_prefix()}: {exc}") from None
        self._counts["compilations"] += self._compiled_count() - compiled_before
        self._specializations[call.key] = spec
        if path is not None and cache.storable(call.key, spec.out_tree):
            cache.store(path, spec.detached())
        return spec

    def _launcher(self, key, spec: Specialization):
        """The specialization's kernel: generated and loaded once, compiled on first call."""
        launcher = self._launchers.get(key)
        if launcher is None:
            with self._lock:
                launcher = self._launchers.get(key)
                if launcher is None:
                    source = self._target.emit(spec.description, self.options)
                    kernel = self._kernels.get(source)
                    if kernel is None:
                        kernel = self._target.compile(source, spec.namespace, spec.description,
                                                      self._cache_key)
                        self._kernels[source] = kernel
                    launcher = self._launchers[key] = _CountingKernel(kernel, self)
        return launcher

    def _compiled_count(self) -> int:
        dispatchers = [self._per_example] if self._per_example is not None else []
        return sum(_compiled(d) for d in dispatchers + list(self._kernels.values()))


def _describe_leaf(key: tuple) -> str:
    """One argument's part of the specialization key, readable."""
    axis, shape, dtype, layout = key
    if not layout and not dtype.startswith(("<", ">", "|", "=")):
        return f"Python {dtype}, unmapped"
    where = "unmapped" if axis is None else f"mapped over axis {axis}"
    array = f", {layout} layout" if layout else ""
    return f"{np.dtype(dtype).name}, per-example shape {shape}{array}, {where}"


def _checked_axis_size(axis_size):
    """``axis_size`` as an int (or None), rejecting floats, bools and negatives."""
    if axis_size is None:
        return None
    if not isinstance(axis_size, numbers.Integral) or isinstance(axis_size, bool):
        raise TypeError(f"axis_size must be an int or None, got {axis_size!r} of type "
                        f"{type(axis_size).__name__}")
    if axis_size < 0:
        raise ValueError(f"axis_size must be a non-negative int or None, got {axis_size!r}")
    return int(axis_size)


@typeof_impl.register(VmappedFunction)
def _typeof_vmapped(value, context):
    """Compiled code sees a VmappedFunction as the dispatcher of its entry function."""
    return types.Dispatcher(value.jit_entry)


def _compiled(dispatcher) -> int:
    """Signatures Numba compiled (not loaded from its on-disk cache)."""
    return len(dispatcher.overloads) - sum(dispatcher.stats.cache_hits.values())


def compiled_entry(dispatcher, args):
    """The compiled function ``dispatcher`` holds for exactly ``args``' Numba types,
    or the dispatcher itself where it holds none (it ran an earlier signature).

    Calling it skips Numba's type dispatch, half the cost of a small call. A
    stored plan passes arguments of the types of its specialization's first
    call: the plan key fixes every dtype, rank and layout, and outputs, status
    and sizes are made alike. Only an input's read-only flag, which Numba
    also types, may differ: code typed for writable inputs runs read-only
    ones alike, because a kernel never writes its inputs (fused code writes
    only outputs, and a call into user code was typed for read-only views).
    """
    try:
        return dispatcher.get_overload(tuple(dispatcher.typeof_pyval(arg) for arg in args))
    except KeyError:
        return dispatcher


class _CountingKernel:
    """A specialization's kernel: its first call counts compilations and turns
    Numba's failures into ``CompileError``; later calls go straight through."""

    def __init__(self, dispatcher, owner: VmappedFunction):
        self.dispatcher = dispatcher
        self.owner = owner
        self.compiled = False
        #: What stored plans call once compiled (see ``compiled_entry``).
        self.entry = dispatcher

    def __call__(self, *args):
        if self.compiled:
            return self.dispatcher(*args)
        with self.owner._lock:  # concurrent first calls wait for one compile
            before = _compiled(self.dispatcher)
            compiled_before = self.owner._compiled_count()  # the per-example function too
            try:
                failed = self.dispatcher(*args)
            except Exception as exc:
                if before == _compiled(self.dispatcher) and len(self.dispatcher.overloads):
                    raise
                raise example_function.compile_error(self.owner.innermost, exc) from None
            self.owner._counts["compilations"] += self.owner._compiled_count() - compiled_before
            self.entry = compiled_entry(self.dispatcher, args)
            self.compiled = True
        return failed


def vmap(fun=None, in_axes=0, out_axes=0, *, axis_size=None, parallel="auto",
         fastmath=False, boundscheck=None, cache=False, target="cpu"):
    """Vectorize a per-example function over a batch axis, compiled by Numba.

    Parameters
    ----------
    fun : callable, optional
        The function for one example, written with NumPy. Omit it to use
        ``vmap(...)`` as a decorator factory: ``@vmap(in_axes=(0, None))``.
    in_axes : int, None, or tuple
        The axis of each positional argument to map over (``None``: pass the
        whole argument to every example). An int applies to every argument;
        a tuple has one entry per positional argument, each an int, None or
        a container spec that is a prefix of that argument's structure.
        Keyword arguments are always mapped over axis 0.
    out_axes : int, None, or tuple
        Where the batch axis goes in each output; ``None`` for an output
        that does not depend on the batch (returned once).
    axis_size : int, optional
        The number of examples when nothing is mapped.
    parallel : {"auto", True, False}
        ``prange`` over examples; "auto" runs serially for small batches.
    fastmath : bool
        Passed to Numba; in fused bodies it also computes float ``np.exp``,
        ``np.log`` and ``np.tanh`` with vectorisable versions within 1 ulp
        of NumPy, and ``np.linalg.solve``, ``inv`` and ``det`` of matrices
        up to 4x4 by Gaussian elimination written out instead of LAPACK
        (docs: Accuracy).
    boundscheck : bool, optional
        Passed to Numba: ``True`` makes an out-of-range index raise
        ``IndexError`` with the failing example's index. ``None`` follows
        Numba's default (``NUMBA_BOUNDSCHECK``, off). Without bounds checks,
        as in Numba, an out-of-range index is undefined behaviour: it may
        return garbage or crash.
    cache : bool
        Keep compiled kernels on disk, keyed on the per-example function's
        code, its closure values, and the globals and ``@njit`` helpers it
        uses (see ``numbavmap.fingerprint``).
    target : {"cpu", "cuda"}
        Where the kernel runs: "cuda" runs one GPU thread per example
        (numba-cuda, ``pip install "numbavmap[cuda]"``; see the GPU guide).

    Returns
    -------
    VmappedFunction

    Examples
    --------
    >>> import numpy as np
    >>> from numbavmap import vmap
    >>> @vmap
    ... def sum_of_squares(v):
    ...     return np.sum(v ** 2)
    >>> sum_of_squares(np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([ 5., 25.])
    """
    options = dict(in_axes=in_axes, out_axes=out_axes, axis_size=axis_size, parallel=parallel,
                   fastmath=fastmath, boundscheck=boundscheck, cache=cache, target=target)
    if fun is None:
        return lambda f: VmappedFunction(f, **options)
    return VmappedFunction(fun, **options)
