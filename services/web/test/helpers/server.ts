import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { Response } from './app.js'
import { OWNER_VARIABLE, ownerTag } from './owner.js'

/** The service's folder: where `dist/` and `migrations/` are, as in the image's /app. */
export const SERVICE_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * A TCP port nobody listens on right now, picked by the kernel. Only for what
 * cannot listen on port 0 and say where it landed: the service (PORT is 1 to
 * 65535) and redis-server (--port 0 turns TCP off); an app in the test's
 * process listens on port 0.
 */
export async function freePort (): Promise<number> {
  const probe = createServer()
  probe.listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const { port } = probe.address() as { port: number }
  probe.close()
  await once(probe, 'close')
  return port
}

export interface RunningServer {
  url: string
  child: ChildProcess
  /** Everything the process wrote to stdout and stderr so far. */
  output: () => string
  /** Every complete JSON log line the process wrote so far, parsed. */
  logs: () => Array<Record<string, unknown>>
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>
}

/** What the image runs after `node` (the Dockerfile's CMD): the tracing preload, then the server. */
export const SERVER_ARGS = ['--experimental-async-context-frame', '--import', './dist/telemetry.js', 'dist/server.js']

/**
 * Starts the built server exactly as the container does (`node SERVER_ARGS…`
 * in the service's folder) and resolves once it listens. Killed after the test
 * if still running.
 */
export async function startServer (t: Test, env: NodeJS.ProcessEnv, root = SERVICE_ROOT): Promise<RunningServer> {
  const port = await freePort()
  const child = spawn(process.execPath, SERVER_ARGS, {
    cwd: root,
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), [OWNER_VARIABLE]: ownerTag(), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })

  // No deadline of its own: a start slowed by a busy machine is not a failure;
  // the test's timeout bounds the wait.
  await new Promise<void>((resolve, reject) => {
    const listening = () => {
      if (output.includes('Server listening')) resolve()
    }
    child.stdout.on('data', listening)
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)))
  })
  const logs = () => output.split('\n').filter((line) => line.startsWith('{') && line.endsWith('}')).map((line) => JSON.parse(line))
  return { url: `http://127.0.0.1:${port}`, child, output: () => output, logs, exited }
}

/** A real HTTP exchange, read whole, in the shape `checkBody` checks. */
export async function fetchResponse (url: string, init?: RequestInit): Promise<Response> {
  const response = await fetch(url, init)
  return { statusCode: response.status, headers: Object.fromEntries(response.headers), body: await response.text() }
}
