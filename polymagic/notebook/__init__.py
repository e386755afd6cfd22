"""The notebook layer: views and widgets that show builds in Jupyter.

This package is the only place that imports IPython and ipywidgets. Everything it shows is made
by the pure core (``polymagic.render.compiler``, ``polymagic.render.manifests``, ``polymagic.render.lint``,
``polymagic.outcome.kaniko_log``); nothing here renders, compiles or talks to a cluster itself.
"""

__all__: list[str] = []
