"""The ``bluegreen`` program (``program``) and the Fabric executor that gives a task every
host named by ``-H`` in one call (``fleet``). The tasks themselves are ``bluegreen.tasks``."""
