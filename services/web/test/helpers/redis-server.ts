import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { OWNER_VARIABLE, ownedTempDir, ownerTag } from './owner.js'
import { freePort } from './server.js'
import { waitUntil } from './timing.js'

export interface PrivateRedis {
  port: number
  /** Its data directory, kept across restarts. */
  dir: string
  /** Starts redis-server with `flags`, and never an RDB snapshot (`--save ""` comes last). */
  start: () => Promise<void>
  /** SHUTDOWN, as `docker compose stop` does through SIGTERM: Redis flushes and exits. */
  shutdown: () => Promise<void>
}

/**
 * A redis-server of the test's own, on a free port and in a temporary directory,
 * started with `flags` (compose's, say), for what the shared one must never
 * undergo. Killed and removed after the test.
 */
export async function privateRedis (t: Test, flags: string[]): Promise<PrivateRedis> {
  const port = await freePort()
  const dir = await ownedTempDir(t, 'redis')
  let server: ChildProcess | undefined

  const ping = async () => {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    client.on('error', () => {})
    try {
      await client.connect()
      return await client.ping() === 'PONG'
    } catch {
      return false
    } finally {
      client.disconnect()
    }
  }

  t.teardown(async () => {
    if (server !== undefined && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGKILL')
      await once(server, 'exit')
    }
  })

  return {
    port,
    dir,
    async start () {
      server = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...flags, '--save', ''
      ], { stdio: 'ignore', env: { ...process.env, [OWNER_VARIABLE]: ownerTag() } })
      await waitUntil(ping, `redis-server on ${port}`)
    },
    async shutdown () {
      const running = server
      if (running === undefined) return
      const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null })
      client.on('error', () => {})
      const exited = once(running, 'exit')
      // The connection closes under the command when Redis exits.
      await client.call('SHUTDOWN').catch(() => {})
      client.disconnect()
      await exited
    }
  }
}
