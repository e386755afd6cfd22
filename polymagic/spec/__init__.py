"""Reading Polyaxon documents: the models, the YAML loader, params, runPatch, templates,
the bundled hub components and the examples. Pure: reads files only when given a path.
"""

__all__: list[str] = []
