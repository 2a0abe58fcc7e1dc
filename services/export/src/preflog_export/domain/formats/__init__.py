"""One module per export format; each turns an item into its records."""
