"""Workloads: scenario files (data) and the runner that records and validates with them."""
