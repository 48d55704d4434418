import { enableCompileCache } from 'node:module'
import closeWithGrace from 'close-with-grace'

// Most of the start-up is V8 compiling the ~350 modules the service loads. Their
// compiled code is kept on disk (NODE_COMPILE_CACHE, else the temp directory)
// and reused by the next start on the same file system: roughly 200 ms less on
// the bench machine (docs/performance.md); nothing across containers, whose /tmp
// starts empty. The modules are imported after this line, hence the dynamic
// imports.
enableCompileCache()
const { buildApp } = await import('./app.js')
const { ConfigError, loadConfig } = await import('./config.js')

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
