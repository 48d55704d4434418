import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

const SANE_REQUEST_ID = /^[\w.:-]{1,128}$/

/** Reuses the caller's `x-request-id` when it is safe to log, so logs join across services. */
export function requestId (request: IncomingMessage): string {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID()
}
