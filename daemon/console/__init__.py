"""The web console: the platform in a browser, every change still going through Git.

Served by the daemon's own HTTP server (pages at ``/``, the JSON API under ``/api/``, the
package's assets under ``/static/``; no build step, no CDN). Modules, from pure to wired::

    topology    tenants, apps and their parts as a laid-out graph within a node budget, with
                the flows of daemon.policy.reachability folded by app                      (pure)
    svg         that graph as inline SVG                                                   (pure)
    backups     a Volume's snapshot chain: retention classes, the next prune, restores     (pure)
    html        escaping HTML builders                                                     (pure)
    pages       the HTML pages                                                             (pure)
    access      sign-in (trusted proxy, bearer tokens, sessions), roles, scope, CSRF        (pure)
    live        the cluster's live state, a few lists per refresh, shared for seconds
    reads       what each page shows, cut to the viewer's scope (the API returns it as is)
    actions     scale, pause, resume, sync, restore: the chat's rules and commits, audited
    ports       what the console uses of the daemon
    app         the routes, security headers, sign-in, CSRF and Origin checks

``Daemon._wire_console`` (daemon.runtime.daemon) wires it unless ``--no-console``.
"""
