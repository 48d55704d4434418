import sonicBoom from 'sonic-boom'
import { TurnBatch } from '../per-turn.js'

/**
 * Where log lines go (stdout in the service): the lines of one turn of the event
 * loop leave in one write (per-turn.ts), instead of a system call or a hand-off
 * to libuv's thread pool per line. sonic-boom writes synchronously, as pino's
 * sync mode does, waiting while a pipe is full.
 */
export class TurnBatchedOutput {
  readonly #out: InstanceType<typeof sonicBoom.SonicBoom>
  readonly #batch = new TurnBatch<string>((lines) => this.#out.write(lines.join('')))

  constructor (fd: number) {
    this.#out = new sonicBoom.SonicBoom({ fd, sync: true })
    // A reader that went away (EPIPE) must not bring the service down, as with pino's stdout.
    this.#out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err
    })
    // process.exit() (close-with-grace calls it) skips the pending setImmediate.
    process.once('exit', this.#batch.flushNow)
  }

  write (line: string): void {
    this.#batch.add(line)
  }
}
