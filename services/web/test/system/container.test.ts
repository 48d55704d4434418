import { execFile } from 'node:child_process'
import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { dbTestSchema } from '../../src/routes/db.js'
import { checkBody, isolatedEnv } from '../helpers/app.js'
import { fetchResponse, SERVICE_ROOT, startServer } from '../helpers/server.js'
import { UNHURRIED } from '../helpers/timing.js'

const run = promisify(execFile)

// The tap suite runs without Docker too (make e2e runs the real image), so
// rebuild the image's /app by hand, the way the Dockerfile's runtime stage
// does: manifests, production dependencies only, then dist/ and migrations/.
// A runtime import of a dev dependency fails right here.
t.test('the service runs from an image-like folder holding production dependencies only', async (t) => {
  const app = t.testdir()
  for (const file of ['package.json', 'package-lock.json', 'dist', 'migrations']) {
    await cp(join(SERVICE_ROOT, file), join(app, file), { recursive: true })
  }
  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: app, env: { ...process.env, NODE_ENV: 'production' }
  })

  const server = await startServer(t, { ...await isolatedEnv(t), ...UNHURRIED, NODE_ENV: 'production' }, app)
  checkBody(t, await fetchResponse(`${server.url}/`), 200, statusSchema)
  checkBody(t, await fetchResponse(`${server.url}/db/test`), 200, dbTestSchema)
  t.equal((await fetchResponse(`${server.url}/docs/`)).statusCode, 200, 'the docs UI and its assets ship too')
})
