"""Reading a build's outcome, in one place: the executor's log (``kaniko_log``: the line
splitter, the events, the steps, the parser), the pod's states and what they mean
(``pod_state``), what a finished build gives back (``result``), the words a user reads about
a failure (``text``) and the short texts every front end shares about a build (``status_text``:
durations, a reused build, an empty list).

Pure: reads pod objects, log lines and errors handed to it; talks to no cluster or registry
(``polymagic.kube`` follows the pod and feeds it here). Above ``render`` (it reads the
manifests' labels and the Dockerfile's steps), below ``kube``.
"""

__all__: list[str] = []
