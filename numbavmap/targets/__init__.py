"""Where kernels run beyond the CPU: each target is a module imported only when used."""
