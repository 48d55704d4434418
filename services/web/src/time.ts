/** The contract's timestamp: UTC, to the second, no offset (`2025-11-19T21:30:00`). */
export function utcTimestamp (date = new Date()): string {
  return date.toISOString().slice(0, 19)
}
