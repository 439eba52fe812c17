"""Pure decisions: what changed (diff), what Dockyard owns and may prune (inventory, plan), what
is healthy, when windows are open, which snapshots retention keeps, when alerts fire. No I/O."""
