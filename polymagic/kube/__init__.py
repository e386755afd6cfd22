"""Everything that talks to a cluster or a registry: the one module that imports
``kubernetes`` (``client``), the seams the build code depends on (``api``: the ``Cluster``
protocol and the clock), getting a build onto the cluster (``submit``), following it
(``session``, ``log_reader``) with the pure pod-state machine deciding what the pod says
(``pod_state``), and the registry's reuse check (``reuse``, ``registry``).
"""

__all__: list[str] = []
