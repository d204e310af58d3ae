"""How ``pytest -n 2 --dist loadfile`` shares the test files between its workers.

xdist's file scheduling gives each worker whole files, so a file's module fixtures are built
once. Two things it cannot know are added here:

- Files that share a costly session fixture run on one worker, so it is built once per run
  and not once per worker: every file under ``tests/spark/`` talks to the local Spark Connect
  server, whose JVM costs more CPU to start than most test files cost to run.
- Those shared units are handed out first: a worker that starts the JVM early overlaps its
  minute of start-up with the tests of the other worker, instead of leaving one worker idle
  at the end while the other waits for Spark.
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling

SHARED_SESSION_FOLDERS = ("tests/spark/",)
"""Folders whose files need one session resource: each folder is one unit of work."""


class SharedSessionFileScheduling(LoadFileScheduling):
    """File scheduling where each folder of :data:`SHARED_SESSION_FOLDERS` is one unit, first."""

    def _split_scope(self, nodeid: str) -> str:
        path = super()._split_scope(nodeid)
        return next((folder for folder in SHARED_SESSION_FOLDERS if path.startswith(folder)), path)

    def _assign_work_unit(self, node) -> None:
        for folder in reversed(SHARED_SESSION_FOLDERS):
            if folder in self.workqueue:
                self.workqueue.move_to_end(folder, last=False)
        super()._assign_work_unit(node)
