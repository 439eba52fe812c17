"""What the daemon keeps in the cluster: the inventory, the history, the pauses, the leader lease."""
