import { setTimeout as sleep } from 'node:timers/promises'
import { ProxyTracerProvider, trace } from '@opentelemetry/api'

interface Flushable {
  forceFlush: () => Promise<void>
}

const flushable = (provider: object): provider is Flushable => 'forceFlush' in provider && typeof provider.forceFlush === 'function'

/**
 * Sends the spans still waiting in the batch processor, giving up after
 * `withinMs`: at shutdown they would otherwise go with the process, and a
 * collector that does not answer must not hold the shutdown. With tracing off
 * the API's no-op provider holds nothing, and this returns at once.
 */
export async function flushTraces (withinMs: number): Promise<void> {
  const global = trace.getTracerProvider()
  const provider = global instanceof ProxyTracerProvider ? global.getDelegate() : global
  if (!flushable(provider)) return
  await Promise.race([
    // A failed export is reported by the exporter (tracing/sdk.ts); nothing more to do here.
    provider.forceFlush().catch(() => {}),
    // Unreferenced: once the flush is done, this timer does not keep the process alive.
    sleep(withinMs, undefined, { ref: false })
  ])
}
