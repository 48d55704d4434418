// What the whole run shares: the things to undo whatever way it ends, and the
// progress log.

// Everything that must be undone on the way out (bench.mjs cleanup()).
export const resources = {
  children: new Set(), // node servers and the wrk run in progress
  database: undefined, // name of the bench database once created
  redisDb: undefined, // number of the claimed Redis logical DB
  sinks: new Set() // the OTLP sinks the traced services export to (TRACING_RATIOS)
}

// Set once a signal asked us to stop: the run then fails on its way out (its
// servers are gone), and that failure is not worth reporting.
export const run = { interrupted: false }

// Progress goes to stderr; if that is closed (`make bench | head`), writing must
// not throw, or the error would loop through the handlers instead of cleaning up.
process.stderr.on('error', () => {})
process.stdout.on('error', () => {})

export function log (message) {
  process.stderr.write(`[bench] ${message}\n`)
}
