"""runzeo with faults a test switches on: a FileStorage that holds every
tpc_finish while a marker file exists (stops the world between two backends'
tpc_finish), or that is slow at undoLog/undoInfo (a big database).

    python patched_runzeo.py [--hold-finish MARKER] [--slow-undo SECONDS] -C zeo.conf
"""

import argparse
import os
import sys
import time

from ZODB.FileStorage import FileStorage

parser = argparse.ArgumentParser(add_help=False)
parser.add_argument("--hold-finish")
parser.add_argument("--slow-undo", type=float, default=0)
options, rest = parser.parse_known_args()
sys.argv[1:] = rest

if options.hold_finish:
    _finish = FileStorage._finish

    def held_finish(self, tid, u, d, e):
        # The transaction is written (status 'c') and the storage lock is held:
        # a crash here leaves it uncommitted, as in the middle of a real finish.
        while os.path.exists(options.hold_finish):
            time.sleep(0.02)
        return _finish(self, tid, u, d, e)

    FileStorage._finish = held_finish

if options.slow_undo:
    def slowed(method):
        def slow(self, *args, **kw):
            time.sleep(options.slow_undo)
            return method(self, *args, **kw)
        return slow

    FileStorage.undoLog = slowed(FileStorage.undoLog)
    FileStorage.undoInfo = slowed(FileStorage.undoInfo)

from ZEO.runzeo import main  # noqa: E402

main()
