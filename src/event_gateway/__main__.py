from event_gateway.cli import main

raise SystemExit(main())
