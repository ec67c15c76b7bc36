from nst.cli import main

main()
