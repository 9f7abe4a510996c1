"""``python -m examples.render_service --credits-url http://127.0.0.1:3000 --port 8080``."""

from __future__ import annotations

from examples.render_service.app import main

raise SystemExit(main())
