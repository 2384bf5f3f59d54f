from functrace.cli import main

main()
