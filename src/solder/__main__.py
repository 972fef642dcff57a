from solder.cli import main

main()
