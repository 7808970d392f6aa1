"""Layer 1, config: hosts.yml → immutable objects; every error names file, key and problem.

Also the distributions bluegreen supports (``profiles``), the user's certificate files
(``certificates``) and the environment kept from the programs bluegreen starts
(``child_env``). Imports nothing of bluegreen but ``errors`` and ``files``.
"""
