import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { TurnBatchedOutput } from '../../src/logging/output.js'
import { SERVICE_ROOT } from '../helpers/server.js'

const nextTurn = async () => await new Promise((resolve) => setImmediate(resolve))

/** A file to write the log to, removed after the test. */
function logFile (t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'log-output-'))
  const path = join(dir, 'log')
  const fd = openSync(path, 'a')
  t.teardown(() => {
    closeSync(fd)
    rmSync(dir, { recursive: true })
  })
  return { fd, read: () => readFileSync(path, 'utf8') }
}

/** Runs `script` in a node process that has the built TurnBatchedOutput on stdout. */
async function runWithOutput (script: string, { closeStdout = false } = {}) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { TurnBatchedOutput } = await import('./dist/logging/output.js')
    const output = new TurnBatchedOutput(1)
    ${script}
  `], { cwd: SERVICE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  if (closeStdout) child.stdout.destroy()
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stdout, stderr }
}

t.test('lines logged in one turn of the event loop are written together when the turn ends', async (t) => {
  const { fd, read } = logFile(t)
  const output = new TurnBatchedOutput(fd)
  output.write('{"n":1}\n')
  output.write('{"n":2}\n')
  t.equal(read(), '', 'nothing written while the turn runs')
  await nextTurn()
  t.equal(read(), '{"n":1}\n{"n":2}\n')
})

t.test('a lone line is written on the next turn, without waiting for a timer', async (t) => {
  const { fd, read } = logFile(t)
  const output = new TurnBatchedOutput(fd)
  output.write('{"alone":true}\n')
  await nextTurn()
  t.equal(read(), '{"alone":true}\n')
  output.write('{"later":true}\n')
  await nextTurn()
  t.equal(read(), '{"alone":true}\n{"later":true}\n', 'a later turn writes its own line')
})

t.test('lines logged just before process.exit() are written', async (t) => {
  const { code, stdout } = await runWithOutput("output.write('last words\\n'); process.exit(0)")
  t.equal(code, 0)
  t.equal(stdout, 'last words\n')
})

t.test('a reader that went away does not bring the process down', async (t) => {
  const { code, stderr } = await runWithOutput(`
    await new Promise((resolve) => setTimeout(resolve, 300))
    for (let turn = 0; turn < 3; turn++) {
      output.write('nobody reads this\\n')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    process.stderr.write('still running')
  `, { closeStdout: true })
  t.equal(code, 0)
  t.equal(stderr, 'still running')
})
