import type { ServerResponse } from 'node:http'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'

function readConfig () {
  try {
    return loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  }
}

const config = readConfig()
const app = await buildApp(config)

// Node's close() ends the keep-alive connections that are idle when it is called;
// one whose request is still in flight would stay open after its answer until the
// client drops it, holding the exit until the delay runs out. Those answers tell
// their client to close instead.
const inFlight = new Set<ServerResponse>()
app.server.on('request', (_request, response: ServerResponse) => {
  inFlight.add(response)
  response.once('close', () => inFlight.delete(response))
})

// First signal: stop accepting, finish what was accepted, close the pool and the
// Redis client. A second signal, or the delay running out, exits at once.
closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS, logger: app.log }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'shutting down after an unexpected error')
  else app.log.info({ signal }, 'shutting down')
  for (const response of inFlight) if (!response.headersSent) response.setHeader('connection', 'close')
  await app.close()
})

await app.listen({ host: config.HOST, port: config.PORT })
