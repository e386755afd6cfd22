"""Real-cluster test infrastructure for polymagic.

- :mod:`tests.cluster.control_plane` runs a real Kubernetes v1.20 control plane
  (etcd, kube-apiserver, kube-scheduler, kube-controller-manager) on 127.0.0.1;
- :mod:`tests.cluster.simulated_node` is the only simulated part: a kubelet that
  "runs" Kaniko pods and serves their logs;
- :mod:`tests.cluster.fixtures` exposes both as pytest fixtures.

The binaries are built once by ``.ci/cluster-binaries.sh`` and cached.
"""
