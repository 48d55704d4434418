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

// First signal: drain (readiness fails, answers ask clients to close) for
// SHUTDOWN_DELAY_MS, then stop accepting, finish what was accepted, close the
// pool and the Redis client within SHUTDOWN_TIMEOUT_MS. A second signal, or the
// time running out, exits at once.
closeWithGrace({ delay: config.SHUTDOWN_DELAY_MS + config.SHUTDOWN_TIMEOUT_MS, logger: app.log }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'shutting down after an unexpected error')
  else app.log.info({ signal }, 'shutting down')
  await app.drain.begin()
  await app.close()
})

await app.listen({ host: config.HOST, port: config.PORT })
