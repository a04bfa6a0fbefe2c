from robust_tickets.cli.main import main

raise SystemExit(main())
