"""One renderer per config format, each reading the Plan; distros share them."""
