"""Time to first result in a fresh process, cold and warm from disk (see first_call.py)."""

from asv_benchmarks import first_call


class FirstCallFreshProcess:
    """Seconds of the first call in a new process: numbavmap and the hand kernel,
    cold (empty Numba cache) and warm (``cache=True``, from disk)."""

    params = [list(first_call.WORKLOADS), ["numbavmap", "hand"]]
    param_names = ["workload", "implementation"]
    unit = "seconds"
    timeout = 600

    def setup(self, key, implementation):
        self.cold, self.warm = first_call.cold_and_warm(key, implementation, repeat=1)

    def track_cold_seconds(self, key, implementation):
        return self.cold

    def track_warm_seconds(self, key, implementation):
        return self.warm
