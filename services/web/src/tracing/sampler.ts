import { TraceFlags, type Attributes, type Context, type Link, type SpanKind } from '@opentelemetry/api'
import { tracing } from '@opentelemetry/sdk-node'
import type { Config } from '../config.js'
import { inSampledRequest } from './request-sampling.js'

const { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, SamplingDecision, TraceIdRatioBasedSampler } = tracing

/** The sampler OTEL_TRACES_SAMPLER names, built as the SDK builds it from the validated settings. */
export function configuredSampler (config: Pick<Config, 'OTEL_TRACES_SAMPLER' | 'OTEL_TRACES_SAMPLER_ARG'>): tracing.Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG ?? 1)
  switch (config.OTEL_TRACES_SAMPLER) {
    case 'always_on': return new AlwaysOnSampler()
    case 'always_off': return new AlwaysOffSampler()
    case 'traceidratio': return ratio()
    case 'parentbased_always_on': return new ParentBasedSampler({ root: new AlwaysOnSampler() })
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() })
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: ratio() })
  }
}

/**
 * The SDK's sampler, which follows decisions already made. A span within a
 * request the configured sampler chose at its head (request-sampling.ts) is
 * sampled: that request's whole tree is kept. A span linked to a sampled span
 * is sampled: shared work starts a trace of its own, linked to the requests it
 * serves, and drawn for on its own it would often be dropped while a sampled
 * request's link still points at it. Anything else is left to the configured
 * sampler.
 */
export class DecisionFollowingSampler implements tracing.Sampler {
  constructor (private readonly sampler: tracing.Sampler) {}

  shouldSample (context: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): tracing.SamplingResult {
    if (inSampledRequest(context)) return { decision: SamplingDecision.RECORD_AND_SAMPLED }
    if (links.some((link) => (link.context.traceFlags & TraceFlags.SAMPLED) !== 0)) return { decision: SamplingDecision.RECORD_AND_SAMPLED }
    return this.sampler.shouldSample(context, traceId, name, kind, attributes, links)
  }

  toString (): string {
    return `DecisionFollowingSampler{${this.sampler.toString()}}`
  }
}
