"""What the two front ends (``cli`` and ``notebook``) share: the freeze workflow and the
running interpreter it reads.
"""
