"""Layer 7, operations: what a task asks for. Changes (``deploy``; ``serve``: rollback and
switch; ``split``: split, promote, abort; ``maintenance``), ``bootstrap``, and the reads
(``status``, ``history``, ``logs``, ``locks``, ``execute``). Each decides in Python and runs
through the engine; none imports another operation."""
