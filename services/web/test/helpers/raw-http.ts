import { connect } from 'node:net'
import type { Response } from './app.js'

/**
 * Writes `request` as is on a fresh connection and parses what came back once the
 * server closes it (a well-formed request should ask for `Connection: close`), or
 * with `firstAnswer` once a whole answer has come; `undefined` when it closed
 * without an answer. With `end`, the writing side is closed after the request, as
 * a client that sends nothing more would, so a request cut short ends there.
 * Given `timeoutMs`, a silence that long also ends the wait; otherwise the test's
 * timeout bounds it.
 */
export async function rawRequest (port: number, request: string | Buffer, { end = false, timeoutMs = 0, firstAnswer = false } = {}): Promise<Response | undefined> {
  const socket = connect({ host: '127.0.0.1', port })
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    // With firstAnswer, a whole answer ends the wait even on a connection kept alive.
    if (firstAnswer && isWhole(Buffer.concat(chunks))) socket.destroy()
  })
  if (timeoutMs > 0) socket.setTimeout(timeoutMs, () => socket.destroy())
  socket.on('connect', () => {
    if (end) socket.end(request)
    else socket.write(request)
  })
  await new Promise<void>((resolve, reject) => {
    // A server that answers and closes may reset a client still writing: what it wrote counts.
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? resolve() : reject(error)))
    socket.on('close', () => resolve())
  })
  return parse(Buffer.concat(chunks))
}

/** Whether `raw` holds a whole answer: its head, and as much body as its Content-Length says. */
function isWhole (raw: Buffer): boolean {
  const headEnd = raw.indexOf('\r\n\r\n')
  if (headEnd === -1) return false
  const length = /\r\ncontent-length: *(\d+)/i.exec(raw.subarray(0, headEnd).toString('latin1'))?.[1]
  return length !== undefined && raw.length - headEnd - 4 >= Number(length)
}

function parse (raw: Buffer): Response | undefined {
  if (raw.length === 0) return undefined
  const text = raw.toString()
  const headEnd = text.indexOf('\r\n\r\n')
  const [statusLine = '', ...headerLines] = text.slice(0, headEnd === -1 ? text.length : headEnd).split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)
  if (status === null) throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`)
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { statusCode: Number(status[1]), headers, body: headEnd === -1 ? '' : text.slice(headEnd + 4) }
}
