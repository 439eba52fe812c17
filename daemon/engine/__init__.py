"""The long-running operations: apply, the reconcile cycle, the scheduler, backups and alerts."""
