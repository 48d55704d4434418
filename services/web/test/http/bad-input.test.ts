import t, { type Test } from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { commonErrorResponses } from '../../src/schemas/shared.js'
import { buildTestApp, checkBody, type Response } from '../helpers/app.js'
import { rawRequest } from '../helpers/raw-http.js'
import { endpoints } from '../helpers/endpoints.js'

// Over a real socket: malformed HTTP never reaches Fastify, and inject() cannot send it.
const { app, logs } = await buildTestApp(t)
await app.listen({ host: '127.0.0.1', port: 0 })
const { port } = app.server.address() as { port: number }

const CLOSE = 'Host: web\r\nConnection: close\r\n'
const get = (target: string, headers = '') => `GET ${target} HTTP/1.1\r\n${CLOSE}${headers}\r\n`

// What is left of the route being hit: an error in the contract's one shape.
const anyRoute = { response: commonErrorResponses }

async function send (t: Test, request: string, options?: { end: boolean }): Promise<Response> {
  const response = await rawRequest(port, request, options)
  if (response === undefined) throw new Error(`closed without an answer to ${JSON.stringify(request.slice(0, 60))}`)
  t.notMatch(String(response.headers['content-type'] ?? ''), /html/, 'never HTML')
  return response
}

/** The error in the contract's shape, with the headers every answer carries; the response, for more checks. */
async function expectError (t: Test, request: string, status: number, erro: string, options?: { end: boolean }) {
  const response = await send(t, request, options)
  t.same(checkBody(t, response, status, anyRoute), { status: 'erro', erro })
  t.match(response.headers, { 'x-request-id': /^[\w.:-]+$/, 'cache-control': 'no-store' }, 'a request id, and no-store')
  return response
}

t.test('an unknown route answers 404 Rota não encontrada', async (t) => {
  const paths = ['/nada', '/db', '/db/test/extra', '/DB/TEST', '/%00', '/..%2Fdb%2Ftest', `/${'a'.repeat(8000)}`, '/%F0%9F%98%80']
  for (const path of paths) await expectError(t, get(path), 404, 'Rota não encontrada')
})

t.test('an unknown method on a known route answers 404 Rota não encontrada', async (t) => {
  for (const { url } of endpoints) {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'TRACE', 'SEARCH']) {
      await expectError(t, `${method} ${url} HTTP/1.1\r\n${CLOSE}Content-Length: 0\r\n\r\n`, 404, 'Rota não encontrada')
    }
  }
})

t.test('HEAD on a route without it answers 404 with no body', async (t) => {
  const response = await send(t, `HEAD /db/test HTTP/1.1\r\n${CLOSE}\r\n`)
  t.equal(response.statusCode, 404)
  t.equal(response.body, '')
})

t.test('a method HTTP does not define answers 400 Requisição inválida', async (t) => {
  await expectError(t, `FOO / HTTP/1.1\r\n${CLOSE}\r\n`, 400, 'Requisição inválida')
})

t.test('junk in the query string is ignored', async (t) => {
  const junk = '?%%%&a[]=1&a[b]=2&__proto__[x]=1&constructor[prototype][y]=2&=&&==&%E0%A4%A=%ZZ&q=' + 'x'.repeat(4000)
  for (const { url, schema } of endpoints) checkBody(t, await send(t, get(`${url}${junk}`)), 200, schema)
  t.equal(({} as Record<string, unknown>).x, undefined, 'no prototype was polluted')
})

t.test('a URL the router cannot decode answers 400 Requisição inválida', async (t) => {
  for (const path of ['/%', '/db/test%E0%A4%A', '/%zz']) await expectError(t, get(path), 400, 'Requisição inválida')
})

t.test('a URL or query string longer than the header limit answers 431', async (t) => {
  await expectError(t, get(`/db/test?q=${'a'.repeat(20_000)}`), 431, 'Cabeçalhos grandes demais')
  await expectError(t, get(`/${'a'.repeat(20_000)}`), 431, 'Cabeçalhos grandes demais')
})

t.test('oversized headers answer 431 Cabeçalhos grandes demais', async (t) => {
  await expectError(t, get('/', `X-Big: ${'a'.repeat(20_000)}\r\n`), 431, 'Cabeçalhos grandes demais')
  const many = Array.from({ length: 3000 }, (_, index) => `X-${index}: a\r\n`).join('')
  await expectError(t, get('/', many), 431, 'Cabeçalhos grandes demais')
})

t.test('a body on a GET is ignored, whatever it holds', async (t) => {
  const bodies = [
    'Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}',
    'Content-Type: application/json\r\nContent-Length: 5\r\n\r\n{"a":',
    `Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(100_000)}`,
    'Content-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<html\r\n0\r\n\r\n'
  ]
  for (const { url, schema } of endpoints) {
    for (const body of bodies) checkBody(t, await send(t, `GET ${url} HTTP/1.1\r\n${CLOSE}${body}`), 200, schema)
  }
})

t.test('a body sent where no route takes one answers 404, or 413 when over the limit', async (t) => {
  await expectError(t, `POST /db/test HTTP/1.1\r\n${CLOSE}Content-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>`, 404, 'Rota não encontrada')
  await expectError(t, `POST /nada HTTP/1.1\r\n${CLOSE}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(100_000)}`,
    413, 'Corpo da requisição grande demais')
})

t.test('malformed HTTP answers 400 Requisição inválida', async (t) => {
  const malformed: Array<[string, string, boolean?]> = [
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n'],
    ['a TLS handshake on the plain port', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', true],
    ['an unknown HTTP version', 'GET / HTTP/9.9\r\nHost: web\r\n\r\n'],
    ['a space in the target', 'GET /a b HTTP/1.1\r\nHost: web\r\n\r\n'],
    ['a header line without a colon', get('/', 'NoColonHere\r\n')],
    ['a control character in a header value', get('/', 'X-A: a\x01b\r\n')],
    ['bare LF line endings', 'GET / HTTP/1.1\nHost: web\n\n'],
    ['a Content-Length that is not a number', get('/', 'Content-Length: abc\r\n')],
    ['two different Content-Lengths', get('/', 'Content-Length: 1\r\nContent-Length: 2\r\n').replace(/\r\n$/, 'ab')],
    ['both Content-Length and Transfer-Encoding', `POST / HTTP/1.1\r\n${CLOSE}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['a Transfer-Encoding that does not end in chunked', get('/', 'Transfer-Encoding: chunked, identity\r\n')],
    // On a route whose handler waits on the databases, so the parser fails before any answer.
    ['a broken chunk', `GET / HTTP/1.1\r\n${CLOSE}Transfer-Encoding: chunked\r\n\r\nzz\r\n`],
    ['a request cut off in its headers', 'GET / HTTP/1.1\r\nHost: web\r\n', true]
  ]
  for (const [name, request, end = false] of malformed) {
    await t.test(name, async (t) => { await expectError(t, request, 400, 'Requisição inválida', { end }) })
  }
})

t.test('a malformed request is logged under the request id its answer carries', async (t) => {
  const response = await expectError(t, 'GARBAGE\r\n\r\n', 400, 'Requisição inválida')
  t.match(logs.find((line) => line.reqId === response.headers['x-request-id']), { msg: 'malformed request', err: { code: String } })
})

t.test('a body that breaks after its request was answered gets no second answer on the socket', async (t) => {
  // The 404 may go out before the parser reaches the broken chunk; what comes
  // back must still be one response in the contract's shape, never two glued together.
  const response = await send(t, `POST /nada HTTP/1.1\r\n${CLOSE}Transfer-Encoding: chunked\r\n\r\nzz\r\n`)
  t.ok([400, 404].includes(response.statusCode), `answered ${response.statusCode}`)
  t.equal(checkBody(t, response, response.statusCode === 400 ? 400 : 404, anyRoute).status, 'erro')
})

t.test('a request without Host gets Node\'s own bare 400', async (t) => {
  const response = await send(t, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n')
  t.equal(response.statusCode, 400)
  t.equal(response.headers['content-type'], undefined, 'nothing but the status')
})

t.test('asking for HTML still gets JSON', async (t) => {
  const accept = 'Accept: text/html,application/xhtml+xml\r\n'
  checkBody(t, await send(t, get('/', accept)), 200, statusSchema)
  await expectError(t, get('/nada', accept), 404, 'Rota não encontrada')
})

t.test('after all of it the server still answers', async (t) => {
  checkBody(t, await send(t, get('/')), 200, statusSchema)
})
