"""``python -m local.stripe_sim --port 12111``: serve the simulator stand-alone."""

from local.stripe_sim.server import main

main()
