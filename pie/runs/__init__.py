"""The run store: one directory per run (every file named in pie.runs.paths) holding prediction
files, weights and a typed manifest whose `complete` status is written last; its lifecycle
(claim, skip, begin or resume, complete), locks, discovery, validation and populations. Only this
package reads and writes inside run directories."""
