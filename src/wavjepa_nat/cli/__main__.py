from wavjepa_nat.cli import main

main()
