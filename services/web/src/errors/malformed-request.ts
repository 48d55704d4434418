import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { answerHeaders } from '../answer-headers.js'
import { clientErrorText } from '../messages.js'
import { errorBody } from '../schemas/shared.js'

/**
 * Fastify's `clientErrorHandler`: malformed HTTP never reaches the router, so it
 * is answered on the socket, in the contract's shape, under a fresh request id.
 */
export function answerMalformedRequest (this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket & { _httpMessage?: ServerResponse }): void {
  // A second answer after one already sent (a broken body after a 404) would corrupt it.
  if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent === true) {
    socket.destroy()
    return
  }
  const statusCode = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
  const reqId = randomUUID()
  this.log.info({ reqId, err: error }, 'malformed request')
  const body = JSON.stringify(errorBody(clientErrorText(statusCode)))
  socket.end(
    `HTTP/1.1 ${statusCode} ${statusCode === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    Object.entries(answerHeaders(reqId)).map(([name, value]) => `${name}: ${value}\r\n`).join('') +
    `\r\n${body}`
  )
}
