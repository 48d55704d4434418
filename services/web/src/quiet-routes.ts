/**
 * Probed every few seconds by orchestrators and Prometheus: logged at debug
 * only, and never traced, or they would drown the requests that matter.
 */
export const QUIET_ROUTES: ReadonlySet<string> = new Set(['/health/live', '/health/ready', '/metrics'])
