import { spawn } from 'node:child_process'

// The start of the stderr line on which an interrupted test file (fixtures/)
// says, as JSON, what it holds.
export const HOLDING = 'holding: '

/** Said by an interrupted test file once it holds everything it takes. */
export function sayHolding (held: object): void {
  process.stderr.write(`${HOLDING}${JSON.stringify(held)}\n`)
}

/**
 * Spawns `node …args`, an interrupted test file or a stand-in for its runner,
 * and resolves with what the file says it holds; rejects if it exits first.
 */
export async function startHolding<Held> (args: string[]) {
  const child = spawn(process.execPath, args, { env: process.env, stdio: ['ignore', 'ignore', 'pipe'] })
  let errors = ''
  const held = await new Promise<Held>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString()
      const line = errors.split('\n').find((candidate) => candidate.startsWith(HOLDING))
      if (line !== undefined) resolve(JSON.parse(line.slice(HOLDING.length)))
    })
    child.once('exit', (code) => reject(new Error(`the interrupted test file exited with ${code} before holding anything:\n${errors}`)))
  })
  return { child, held }
}
