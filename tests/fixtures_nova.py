"""pytest fixtures for real Nova (the Nova lab) and the fake Nova server."""
