"""The run store: one directory per run holding prediction files and a manifest whose
`complete` status is written last. Only this package reads and writes run directories."""
