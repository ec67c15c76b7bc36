import sys

try:
    from nst.cli import main
except KeyboardInterrupt:  # Ctrl-C while the imports start up: one line, as for the rest of start-up
    print("nst: stopped: interrupted (SIGINT) during start-up: nothing was run", file=sys.stderr)
    sys.exit(130)

main()
