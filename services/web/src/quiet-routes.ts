import type { FastifyRequest } from 'fastify'

/**
 * Probed every few seconds by orchestrators and Prometheus: logged at debug
 * only, and never traced, or they would drown the requests that matter.
 */
export const QUIET_ROUTES: ReadonlySet<string> = new Set(['/health/live', '/health/ready', '/metrics'])

/** Whether `request` was routed to one of the quiet routes. */
export function isQuiet (request: FastifyRequest): boolean {
  return QUIET_ROUTES.has(request.routeOptions.url ?? '')
}
