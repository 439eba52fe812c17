"""Chat operations: the ``/dockyard`` Slack command.

Teams ask the platform what it is doing and request changes from Slack; a command that changes
desired state becomes a commit in the platform repo, so review and the audit trail stay in Git.

Modules, from pure to I/O (imports flow downwards only)::

    commands    the command language: text -> typed command or a friendly error      (pure)
    authz       spec.chat.slack.roles -> who may run what, for which tenant          (pure)
    yamledit    one-value edits of YAML that keep comments and formatting            (pure)
    views       Block Kit answers                                                    (pure)
    gitops      scale / rollback as commits on the platform repo                     (git)
    ports       what commands use of the daemon, the current model, a command's outcome
    queries     status (with live state), diff, history: read-only
    actions     sync, pause, resume, scale / rollback commits; waiting for them to apply
    service     authorize, dispatch, answer, audit to history, emit command.executed
    slack_app   the slack-bolt App, POST /slack/events, Socket Mode, replay guard

``Daemon._wire_chat`` (daemon.runtime.daemon) wires it when ``SLACK_SIGNING_SECRET`` or
``SLACK_APP_TOKEN`` is set. This package imports nothing at import time, so the pure modules stay
importable without Slack's libraries.
"""
