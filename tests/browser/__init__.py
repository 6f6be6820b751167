"""Browser tests of the Studio page."""
