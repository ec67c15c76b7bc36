import sys

from nst.errors import hold_interrupts, interrupt_held

hold_interrupts()  # a Ctrl-C while the imports start up is recorded here, never lost inside an import
from nst.cli import STARTUP_INTERRUPTED, main  # noqa: E402

if interrupt_held():  # one line, as for the rest of start-up
    print(f"nst: stopped: {STARTUP_INTERRUPTED}", file=sys.stderr)
    sys.exit(130)

main()
