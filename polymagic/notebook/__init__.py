"""The notebook layer: views and widgets that show builds in Jupyter.

This package is the only place that imports IPython and ipywidgets. Everything it shows is made
by the pure core (``polymagic.compiler``, ``polymagic.manifests``, ``polymagic.lint``,
``polymagic.progress``); nothing here renders, compiles or talks to a cluster itself.
"""
