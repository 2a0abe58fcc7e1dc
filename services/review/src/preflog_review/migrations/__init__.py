"""SQL migrations of schema ``review`` (applied by ``preflog migrate``)."""
