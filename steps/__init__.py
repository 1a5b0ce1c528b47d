"""The step vocabulary of Telltale's requirements: thin words -> engine calls."""
