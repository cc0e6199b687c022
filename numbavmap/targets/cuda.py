"""``vmap(f, target="cuda")``: one CUDA thread per example (numba-cuda).

The call path is the CPU's up to the kernel: ``bind_call`` checks the
arguments, ``Specialization.build`` traces and types (on the CPU), and the
kernel description is the same. Only the generated module differs. For
``first_positive(v)`` mapped over axis 0 it reads (docstrings left out)::

    @_cuda.jit(device=True, fastmath=False)
    def first_positive_example(i, v, out_0):
        result = first_positive(v[i])
        out_0[i] = result
        return OK

    @_cuda.jit(fastmath=False)
    def first_positive_kernel(v, out_0, status, n0):
        for i in range(_cuda.grid(1), n0, _cuda.gridsize(1)):
            status[i] = RAISED
        for i in range(_cuda.grid(1), n0, _cuda.gridsize(1)):
            status[i] = first_positive_example(i, v, out_0)

``first_positive`` is the user's function compiled as a CUDA device
function; a fused body (``numbavmap.fuse``) replaces the call, as on the
CPU. Device code cannot allocate, so a body that allocates arrays and is not
fused is a ``CompileError`` naming the line that allocates.

Exceptions: device code has no ``try``. An exception in the device function
ends its thread, so the example's status stays RAISED (and so do the
examples that thread had not reached yet, all of them later ones). A second
small kernel finds the first example whose status is not OK, and the host
runs that example again on the CPU to raise its exception, with its index.
What is lost on the device: nothing of the type or message (they come from
the CPU re-run), but an exception that only the device raises (a
device-only difference of the arithmetic) is reported as a ``RuntimeError``
saying the example failed on the device but not on the CPU.

Device arrays (``__cuda_array_interface__``) stay on the device: binding and
the trace see host stand-ins of their shape and dtype; only on a new
specialization (or to re-raise a failure) is one example copied to the host.
"""

from __future__ import annotations

import inspect
import weakref
from dataclasses import replace

import numba
import numpy as np
from numba import cuda
from numba.core import ir, types
from numba.cuda.cudadrv import devicearray

from ..errors import CompileError
from ..example_function import compile_error, source_location, typed_blocks
from ..execute import _finish_unmapped, example_failure, raise_failure
from ..ir import KernelDescription
from ..loader import load_module
from ..options import Options
from ..trees import flatten, unflatten
from .cpu import OK, RAISED, WRONG_SHAPE, example_body, imports

#: Threads per block; the grid covers the batch (the loop strides past it).
THREADS_PER_BLOCK = 128
#: At most this many blocks per launch: larger batches take the grid-stride loop.
MAX_BLOCKS = 2**16
#: Kernels per VmappedFunction, by kernel description.
_KERNELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_device_array(value) -> bool:
    """True for numba device arrays and other objects with ``__cuda_array_interface__``."""
    return devicearray.is_cuda_ndarray(value) or hasattr(value, "__cuda_array_interface__")


def cuda_call(vmapped, args: tuple, kwargs: dict):
    """Run ``vmapped`` on the GPU: NumPy in, NumPy out; device arrays in, device arrays out."""
    if vmapped.options.boundscheck:
        raise ValueError(f"{vmapped._error_prefix()}: boundscheck=True is not supported "
                         "with target='cuda'")
    values, devices = _host_stand_ins((*args, *kwargs.values()))
    args, kwargs = tuple(values[: len(args)]), dict(zip(kwargs, values[len(args) :]))
    call = vmapped._bind(args, kwargs)
    on_device = {index: devices[id(value)] for index, value in enumerate(call.leaves)
                 if id(value) in devices}
    if call.key not in vmapped._specializations:
        call = _with_example(call, on_device, 0)
    spec = vmapped._specialization(call)
    leaves = [on_device[k] if k in on_device else _to_device(value)
              for k, value in enumerate(call.leaves)]
    outputs = [cuda.device_array(spec.stacked_shape(k, call.size), dtype)
               for k, dtype in enumerate(spec.out_dtypes)]
    if call.size:
        _launch(vmapped, spec, call, on_device, leaves, outputs)
    return _results(spec, call, on_device, outputs, device=bool(on_device))


def check_allocations(vmapped, spec) -> None:
    """``CompileError`` when the unfused per-example body allocates an array.

    Reads the typed IR of the CPU compilation: an array made by a call, an
    operator or an array expression (not a view: indexing, ``.T``) is an
    allocation. Helpers it calls are not inspected (numba-cuda rejects them
    when it compiles the kernel).
    """
    if spec.description.body is not None:
        return
    for blocks, typemap in typed_blocks(vmapped.per_example):
        for block in blocks.values():
            for statement in block.body:
                if _allocates(statement, typemap):
                    where = f"{statement.loc.filename}:{statement.loc.line}"
                    raise CompileError(
                        f"{source_location(vmapped.innermost)} cannot run with "
                        f"target='cuda': line {statement.loc.line} ({where}) makes a new "
                        "array, and device code cannot allocate; the body is not fused "
                        f"because of {spec.description.not_fused}. Write the loops out with "
                        "scalars, or keep to the fusable subset (see the GPU guide)."
                    )


def _allocates(statement, typemap) -> bool:
    if not (isinstance(statement, ir.Assign) and isinstance(statement.value, ir.Expr)):
        return False
    if statement.value.op not in ("call", "binop", "inplace_binop", "unary", "arrayexpr",
                                  "build_list"):
        return False
    made = typemap.get(statement.target.name)
    return isinstance(made, (types.Array, types.List))


def kernel_source(desc: KernelDescription, options: Options) -> str:
    """The CUDA kernel module's source for ``desc`` (see the module docstring)."""
    names = [arg.name for arg in desc.args] + [output.name for output in desc.outputs]
    names += desc.sizes
    example_params = ", ".join(["i"] + names)
    kernel_params = ", ".join(names + ["status", "n0"])
    body = "\n".join("    " + line for line in example_body(desc))
    loop = "for i in range(_cuda.grid(1), n0, _cuda.gridsize(1)):"
    kind = "fused loops" if desc.body is not None else "one device-function call"
    return f'''\
"""numbavmap CUDA kernel for {desc.function}: {kind} per example, one thread per example.

Generated code. Globals provided by numbavmap: {desc.function} (a CUDA device function).
"""
{imports(desc)}from numba import cuda as _cuda

OK, RAISED, WRONG_SHAPE = {OK}, {RAISED}, {WRONG_SHAPE}


@_cuda.jit(device=True, fastmath={options.fastmath})
def {desc.example_name}({example_params}):
    """Run example i, write its results into the outputs, return its status."""
{body}
    return OK


@_cuda.jit(fastmath={options.fastmath})
def {desc.kernel_name}({kernel_params}):
    """Run all n0 examples, one thread each; status[i] stays RAISED if i's thread dies."""
    {loop}
        status[i] = RAISED
    {loop}
        status[i] = {desc.example_name}({example_params})
'''


def _kernel(vmapped, spec):
    """The CUDA kernel for ``spec`` (compiled at its first launch; one per kernel
    description), and the order in which it takes the call's leaves."""
    kernels = _KERNELS.setdefault(vmapped, {})
    found = kernels.get(spec.description)
    if found is not None:
        return found
    with vmapped._lock:
        if spec.description not in kernels:
            check_allocations(vmapped, spec)
            description, order = positional_call(spec.description, vmapped.innermost)
            namespace = dict(spec.namespace)
            namespace[description.function] = cuda.jit(
                device=True, fastmath=vmapped.options.fastmath)(vmapped.per_example.py_func)
            module = load_module(kernel_source(description, vmapped.options), namespace, None)
            kernels[spec.description] = (getattr(module, description.kernel_name), order)
    return kernels[spec.description]


def positional_call(desc: KernelDescription, py_func) -> tuple[KernelDescription, list]:
    """``desc`` with keyword arguments passed by position where they fill the
    parameters after the positional ones (the simulator's device functions take
    no keywords), and the new order of the call's leaves."""
    groups, start = [], 0
    for call_arg in desc.call:
        groups.append((call_arg, list(range(start, start + call_arg.tree.num_leaves))))
        start += call_arg.tree.num_leaves
    positional = [group for group in groups if group[0].keyword is None]
    by_name = {group[0].keyword: group for group in groups if group[0].keyword is not None}
    for name in list(inspect.signature(py_func).parameters)[len(positional):]:
        if name not in by_name:
            break
        call_arg, leaves = by_name.pop(name)
        positional.append((replace(call_arg, keyword=None), leaves))
    groups = positional + list(by_name.values())
    order = [leaf for _, leaves in groups for leaf in leaves]
    return replace(desc, call=tuple(call_arg for call_arg, _ in groups),
                   args=tuple(desc.args[leaf] for leaf in order)), order


def _launch(vmapped, spec, call, on_device, leaves, outputs) -> None:
    """Run the kernel on ``call.size`` examples; raise the first failing example's error."""
    kernel, order = _kernel(vmapped, spec)
    leaves = [leaves[k] for k in order]
    size = call.size
    threads = min(THREADS_PER_BLOCK, -(-size // 32) * 32)
    blocks = min(MAX_BLOCKS, -(-size // threads))
    status = cuda.device_array(size, np.uint8)
    try:
        kernel[blocks, threads](*leaves, *outputs, *spec.inner_sizes, status, size)
    except Exception as exc:
        if not numba.config.ENABLE_CUDASIM:
            if not kernel.overloads:
                raise compile_error(vmapped.innermost, exc) from None
            raise
        _raise_simulated_failure(spec, call, on_device, status.copy_to_host(), exc)
    first = cuda.to_device(np.array([size], np.int64))
    _first_failure()[blocks, threads](status, first)
    index = int(first.copy_to_host()[0])
    if index < size:
        raise_failure(spec, _with_example(call, on_device, index), index)


def _raise_simulated_failure(spec, call, on_device, status, exc):
    """The simulator stops a launch at the first exception, leaving later examples
    unrun: re-run the not-OK examples in order and raise the first failure."""
    for index in np.flatnonzero(status != OK):
        error = example_failure(spec, _with_example(call, on_device, int(index)), int(index))
        if error is not None:
            raise error from None
    raise exc


_FIRST_FAILURE = []


def _first_failure():
    """A kernel writing into ``first[0]`` the smallest index whose status is not OK."""
    if not _FIRST_FAILURE:
        @cuda.jit
        def first_failure(status, first):
            for i in range(cuda.grid(1), status.shape[0], cuda.gridsize(1)):
                if status[i] != OK:
                    cuda.atomic.min(first, 0, i)

        _FIRST_FAILURE.append(first_failure)
    return _FIRST_FAILURE[0]


def _results(spec, call, on_device, outputs, *, device: bool):
    """The outputs restacked into the result's structure: device arrays for device
    inputs, NumPy arrays otherwise; ``out_axes=None`` outputs checked on the host."""
    if any(spec.unmapped):
        host_call = _with_example(call, on_device, 0) if call.size == 0 else call
        finished = _finish_unmapped(spec, [out.copy_to_host() for out in outputs], host_call,
                                    host_call.leaves)
        outputs = [(cuda.to_device(np.asarray(value)) if device else value) if unmapped
                   else out for value, out, unmapped in zip(finished, outputs, spec.unmapped)]
    if not device:
        outputs = [out.copy_to_host() if is_device_array(out) else out for out in outputs]
    return outputs[0] if spec.out_tree.is_leaf else unflatten(spec.out_tree, outputs)


def _host_stand_ins(tree):
    """``tree`` with each device array replaced by a host array of its shape and
    dtype (zero strides: no memory); returns the stand-ins' ids -> device arrays."""
    leaves, structure = flatten(tree)
    devices = {}
    stand_ins = []
    for value in leaves:
        if is_device_array(value) and not isinstance(value, np.ndarray):
            device = value if devicearray.is_cuda_ndarray(value) else cuda.as_cuda_array(value)
            value = np.broadcast_to(np.zeros((), device.dtype), device.shape)
            devices[id(value)] = device
        stand_ins.append(value)
    return unflatten(structure, stand_ins), devices


def _with_example(call, on_device: dict, index: int):
    """``call`` with each device leaf's stand-in holding its example ``index``
    (a one-example host copy; an unmapped device leaf is copied whole)."""
    if not on_device:
        return call
    leaves = list(call.leaves)
    for k, device in on_device.items():
        axis = call.axes[k]
        if axis is None:
            leaves[k] = device.copy_to_host()
        elif call.size:
            example = device[(slice(None),) * axis + (index,)]
            example = example.copy_to_host() if is_device_array(example) else example
            leaves[k] = np.broadcast_to(np.expand_dims(example, axis), device.shape)
    return replace(call, leaves=leaves)


def _to_device(value):
    """A host leaf as the kernel takes it: arrays copied to the device, scalars as they are."""
    if not isinstance(value, np.ndarray):
        return value
    if not (value.flags.c_contiguous or value.flags.f_contiguous):
        value = np.ascontiguousarray(value)
    return cuda.to_device(value)


class _CUDA:
    """The CUDA target: ``emit`` prints the kernel module (what ``inspect_kernel``
    shows); ``call`` runs a call (copies, launch, status, results)."""

    name = "cuda"
    call = staticmethod(cuda_call)

    def emit(self, description: KernelDescription, options: Options) -> str:
        return kernel_source(description, options)


#: The CUDA target.
CUDA = _CUDA()
