from bluegreen.tasks import ns  # noqa: F401  (fab looks for a collection named fabfile)
