"""Pure outputs of a build: the compiled component, the Dockerfile, lint findings, the
build context archive, the Kubernetes objects, and the reading of Kaniko's log into progress
events. No network, no cluster, nothing written.
"""

# Nothing is re-exported here: each module is imported by its own name.
__all__: list[str] = []
