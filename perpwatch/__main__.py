from perpwatch.cli import main

main()
