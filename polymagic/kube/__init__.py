"""Everything that talks to a cluster or a registry: the one module that imports
``kubernetes`` (``client``), the build session, and the registry's reuse check.
"""
