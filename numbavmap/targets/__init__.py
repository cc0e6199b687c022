"""Where a vmapped call runs beyond one in-process kernel call (``dask``: Dask arrays)."""
