// Runs once before the e2e suite (package.json's test:e2e, tap's `before`):
// removes the compose projects and temporary folders that killed runs left
// behind, which would otherwise pile up, holding containers, volumes and images.
import { removeOrphanTempDirs } from '../helpers/owner.js'
import { removeOrphanStacks } from './stack.js'

const [stacks, tempDirs] = await Promise.all([removeOrphanStacks(), removeOrphanTempDirs()])
if (stacks.length + tempDirs.length > 0) {
  console.error(`Left by killed e2e runs, now removed: compose projects and images ${stacks.join(', ')}; ${tempDirs.length} temporary folders.`)
}
