"""The edges: everything that talks to the outside world (the API server, git, HTTP, the file
system watcher, metrics, the log). Each edge is independent of the others."""
