import { dependencyFailed, type Dependency } from '../messages.js'

/**
 * A dependency failed or is not usable yet (down, frozen, schema not migrated).
 * Repositories throw it; the error handler answers 503 with the contract's text
 * for that dependency and logs the cause, which never reaches the caller.
 */
export class DependencyUnavailable extends Error {
  override name = 'DependencyUnavailable'

  constructor (readonly dependency: Dependency, cause: unknown) {
    super(dependencyFailed[dependency], { cause })
  }
}
