"""What the two front ends (``cli`` and ``notebook``) share: the build options and the
``BuildOptions`` made from them (``arguments``), what a build would submit as both show it
(``preview``), and the freeze workflow (``freeze_command``) with the running interpreter it reads
(``interpreter``). Imports neither front end.
"""

__all__: list[str] = []
