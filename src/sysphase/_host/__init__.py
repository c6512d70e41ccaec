"""Thin OS layers: the only code that calls the kernel (through sysphase._core or os)."""
