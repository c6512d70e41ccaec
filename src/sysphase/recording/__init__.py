"""The recording driver's pure part: the plan of a multi-run recording (``plan.py``).

What ``record`` and ``record --workload`` decide between runs — which mode each
run uses, when to stop, what to merge, what to report — lives here, apart from
running anything; ``sysphase._host.recording`` runs the recordings it asks for.
"""
