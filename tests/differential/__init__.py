"""The differential tests against the real Polyaxon, and the seeded generators of their inputs.

Owns the input space of ``test_differential.py``, in the modules beside it: ``dockerfile``
init bodies (``dockerfile_cases``) and ``hubRef: kaniko`` build operations (``compile_cases``) (with ``-P`` overrides and connection catalogs). Every
generator is a pure function of a ``random.Random``, so a fixed seed always yields the same
cases, and every case is plain JSON data (it crosses a process boundary to the oracle);
``common`` holds what they share.

Each generator has two parts:

* *single-factor* cases: a minimal valid baseline with exactly one key set to one value of
  its pool. Every pool value is covered on every run, and a divergence found here is
  already its own minimal reproduction;
* *combined* cases: many keys at once, drawn at random from the same pools.

Deliberate differences between polymagic and Polyaxon are never generated: undeclared
params (including ``-P =x``, which Polyaxon reads as a param named ""), documents without
``kind: operation``, several component references, and connection names missing from the
catalog. ``{{ globals.name }}`` only appears in named operations: for an unnamed one the
oracle makes up the run name.
"""
