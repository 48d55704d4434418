import t from 'tap'
import { waitUntil } from '../helpers/timing.js'
import { exists, faultyDocker, said, servingStackWithBackup, spawnRestore, STAGES, wayBack } from './backups.js'

// make restore killed at each of its stages, by Ctrl-C (SIGINT to its process
// group) and outright (SIGKILL to it): each signal lands while the stage's
// docker call runs (fixtures/docker-fault.sh holds it), and the command the
// restore printed brings back the data from before.

const { stack, target, moveOn } = await servingStackWithBackup(t, 'e2e-restore-killed')

for (const signal of ['SIGINT', 'SIGKILL'] as const) {
  for (const [stage, match] of STAGES) {
    await t.test(`killed by ${signal} while ${stage}: the printed command brings back the data from before`, async (t) => {
      const before = await moveOn()
      const fault = await faultyDocker(t, stack, match, 'hold')
      const restore = spawnRestore(stack, target.dir, fault.env)
      await waitUntil(async () => await exists(fault.report), `make restore reaches ${stage}`)
      restore.signal(signal)
      const result = await restore.ended
      t.not(result.code, 0, 'make restore fails')
      if (signal === 'SIGINT' && stage !== 'preparing') {
        t.match(said(result).filter((line) => /^make restore: now /.test(line)),
          [/^make restore: now (db (holds|is stopped).*, cache (holds|is stopped).*, web is (stopped|running)\.|the data is unchanged .* web is (stopped|running))/],
          'one line says what db, cache and web hold')
      }
      await wayBack(t, stack, restore.output(), before)
    })
  }
}
