// A collector that accepts every OTLP/HTTP export and counts what it was sent,
// for measuring the service with tracing on: the cost is the service's, the
// sink only reads and discards.
import { once } from 'node:events'
import http from 'node:http'

export async function startSink () {
  const sink = { url: '', exports: 0, bytes: 0, close: async () => {} }
  const server = http.createServer((request, response) => {
    request.on('data', (chunk) => { sink.bytes += chunk.length })
    request.on('end', () => {
      sink.exports++
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  sink.url = `http://127.0.0.1:${server.address().port}`
  sink.close = async () => {
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  }
  return sink
}
