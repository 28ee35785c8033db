from jointdiff.cli import main

raise SystemExit(main())
