import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { gunzipSync } from 'node:zlib'
import protobuf from 'protobufjs'
import type { Test } from 'tap'

/**
 * The part of the OTLP trace protocol the tests read (opentelemetry-proto's
 * collector/trace/v1, trace/v1, common/v1 and resource/v1, same field numbers);
 * what it leaves out, protobuf skips.
 */
const OTLP_TRACE_PROTO = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  SpanKind kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  repeated Link links = 13;
  Status status = 15;
  message Link { bytes trace_id = 1; bytes span_id = 2; }
  enum SpanKind {
    SPAN_KIND_UNSPECIFIED = 0; SPAN_KIND_INTERNAL = 1; SPAN_KIND_SERVER = 2;
    SPAN_KIND_CLIENT = 3; SPAN_KIND_PRODUCER = 4; SPAN_KIND_CONSUMER = 5;
  }
}
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
  }
}
`

const ExportTraceServiceRequest = protobuf.parse(OTLP_TRACE_PROTO).root.lookupType('otlp.ExportTraceServiceRequest')

/** One span as received, ids in hex, attributes flattened. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  /** '' for a root span. */
  parentSpanId: string
  name: string
  kind: 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER' | 'UNSPECIFIED'
  startNs: bigint
  endNs: bigint
  attributes: Record<string, string | number | boolean>
  links: Array<{ traceId: string, spanId: string }>
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number
  /** The resource's service.name. */
  service: string
  /** The instrumentation scope that made it. */
  scope: string
}

interface KeyValue { key: string, value?: { stringValue?: string, boolValue?: boolean, intValue?: string, doubleValue?: number } }

const hex = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString('hex')

function flatten (attributes: KeyValue[] | undefined): ReceivedSpan['attributes'] {
  return Object.fromEntries((attributes ?? []).map(({ key, value }) =>
    [key, value?.stringValue ?? value?.boolValue ?? (value?.intValue === undefined ? value?.doubleValue : Number(value.intValue)) ?? '']))
}

/** Decodes one OTLP/HTTP protobuf export request (gzip too) into its spans. */
export function decodeSpans (body: Buffer, encoding?: string): ReceivedSpan[] {
  const raw = encoding === 'gzip' ? gunzipSync(body) : body
  const request = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(raw), { longs: String, enums: String }) as {
    resourceSpans?: Array<{
      resource?: { attributes?: KeyValue[] }
      scopeSpans?: Array<{ scope?: { name: string }, spans?: Array<Record<string, never>> }>
    }>
  }
  return (request.resourceSpans ?? []).flatMap(({ resource, scopeSpans }) => {
    const service = String(flatten(resource?.attributes)['service.name'] ?? '')
    return (scopeSpans ?? []).flatMap(({ scope, spans }) => (spans ?? []).map((span: Record<string, any>): ReceivedSpan => ({
      traceId: hex(span.traceId),
      spanId: hex(span.spanId),
      parentSpanId: hex(span.parentSpanId),
      name: span.name,
      kind: String(span.kind ?? 'SPAN_KIND_UNSPECIFIED').replace('SPAN_KIND_', '') as ReceivedSpan['kind'],
      startNs: BigInt(span.startTimeUnixNano ?? 0),
      endNs: BigInt(span.endTimeUnixNano ?? 0),
      attributes: flatten(span.attributes),
      links: (span.links ?? []).map((link: { traceId: Uint8Array, spanId: Uint8Array }) => ({ traceId: hex(link.traceId), spanId: hex(link.spanId) })),
      statusCode: span.status?.code ?? 0,
      service,
      scope: scope?.name ?? ''
    })))
  })
}

/** How the receiver answers an export. */
export type ReceiverMode =
  /** 200, spans kept. */
  | 'accept'
  /** 503 (retryable) for every export: a collector refusing them. */
  | 'refuse'
  /** Reads the request and never answers: a frozen collector. */
  | 'freeze'

export interface OtlpReceiver {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string
  /** Every span accepted so far. */
  spans: ReceivedSpan[]
  /** Export requests received so far, answered or not. */
  exports: () => number
  mode: ReceiverMode
  /** Stops listening (a collector down: connections are refused) and drops open connections. */
  stop: () => Promise<void>
  /** Listens again on the same port. */
  start: () => Promise<void>
}

/**
 * An OTLP/HTTP collector for one test: decodes every POST /v1/traces with the
 * protobuf definitions above. Closed when the test ends.
 */
export async function startOtlpReceiver (t: Test, port = 0): Promise<OtlpReceiver> {
  const sockets = new Set<Socket>()
  let exports = 0
  const receiver: OtlpReceiver = {
    endpoint: '',
    spans: [],
    exports: () => exports,
    mode: 'accept',
    stop: async () => {
      const closed = once(server, 'close')
      server.close()
      for (const socket of sockets) socket.destroy()
      await closed
    },
    start: async () => {
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
    }
  }
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      exports++
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end()
        return
      }
      if (receiver.mode === 'freeze') return
      if (receiver.mode === 'refuse') {
        response.writeHead(503).end()
        return
      }
      receiver.spans.push(...decodeSpans(Buffer.concat(chunks), request.headers['content-encoding']))
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await receiver.start()
  port = (server.address() as { port: number }).port
  receiver.endpoint = `http://127.0.0.1:${port}`
  t.teardown(async () => {
    if (server.listening) await receiver.stop()
  })
  return receiver
}
