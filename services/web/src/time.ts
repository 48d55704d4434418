/** The contract's timestamp: UTC, to the second, no offset (`2025-11-19T21:30:00`). */
export function utcTimestamp (date = new Date()): string {
  return date.toISOString().slice(0, 19)
}

/** Rejects when `promise` has not settled within `ms`, so a frozen peer cannot hold a request. */
export async function withDeadline<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}
