/**
 * Preloaded before the service (`node --import ./dist/telemetry.js dist/server.js`,
 * as the image runs it): modules can only be instrumented by hooks registered
 * before they are loaded, which for ESM means before the entry point. With
 * tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_SDK_DISABLED=true) it
 * loads nothing more: no SDK, no hooks, no cost.
 */
import { loadConfig, tracingEnabled } from './config.js'

function readConfig () {
  try {
    return loadConfig()
  } catch {
    // server.ts reports a bad configuration and exits; nothing to trace meanwhile.
    return undefined
  }
}

const config = readConfig()
if (config !== undefined && tracingEnabled(config)) {
  const { startTracing } = await import('./tracing/sdk.js')
  startTracing(config)
}
