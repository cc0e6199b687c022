"""The asv suite classes; each file in ``benchmarks/`` binds them to one workload.

They live outside ``benchmarks/`` so that asv, which collects every class it
finds there, does not also collect these unbound bases. Building, checking and
timing are :mod:`asv_benchmarks.workloads`' (shared with ``compare.py``); this
module only maps them onto asv's conventions: parameters, ``setup`` that runs
and checks an implementation once (``NotImplementedError`` = skip, e.g. jax not
installed) and the ``time_`` / ``peakmem_`` / ``track_`` prefixes.
"""

from asv_benchmarks import workloads as wl


class Compiled:
    """Time and peak memory of each compiled implementation."""

    workload = None  # a key of workloads.WORKLOADS
    param_names = ["implementation"]
    timeout = 300  # Numba compiles in setup, and W5's slowest runs take seconds

    def setup(self, name):
        self.prepared = wl.prepare(self.workload, name)

    def time_call(self, name):
        self.prepared.run()

    def peakmem_call(self, name):
        self.prepared.run()


class PythonLevel:
    """A Python loop and np.vectorize, timed on a sample of the examples and
    scaled to the whole batch (seconds)."""

    workload = None
    params = [list(wl.PYTHON_LEVEL)]
    param_names = ["implementation"]
    unit = "seconds"
    timeout = 300

    def setup(self, name):
        self.prepared = wl.prepare(self.workload, name)

    def track_scaled_seconds(self, name):
        return wl.measure(self.prepared, repeat=3).median


class FirstCall:
    """Seconds of the first call of a fresh ``vmap(...)`` object: trace,
    compile and one run on the full batch."""

    workload = None
    unit = "seconds"
    timeout = 300

    def setup(self):
        self.fn = wl.numbavmap_function(self.workload)  # not called yet

    def track_first_call_seconds(self):
        return wl.first_call_seconds(self.workload, fn=self.fn)


def suites_for(key):
    """The suite classes of workload ``key``: Compiled, PythonLevel (only
    where the workload times the Python-level implementations) and FirstCall."""
    w = wl.WORKLOADS[key]
    doc = f"{w.describe()}\n\n"
    bases = [(Compiled, {"params": [w.compiled]}), (PythonLevel, {}), (FirstCall, {})]
    return tuple(
        type(base.__name__, (base,), {"workload": key, "__doc__": doc + base.__doc__, **extra})
        for base, extra in bases
        if base is not PythonLevel or w.python_level
    )
