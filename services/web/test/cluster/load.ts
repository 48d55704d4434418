import { Agent, request } from 'node:http'

/** One request of the load, whatever happened to it. */
export interface Outcome {
  /** When it was sent and when it ended, in ms since the load began. */
  start: number
  end: number
  /** The HTTP status, or 0 when no answer came (reset, refused, timeout). */
  status: number
  /** `acesso_id` and `total_acessos` of a 200 from /db/test. */
  id?: number
  total?: number
  error?: string
}

export interface Load {
  /** ms since the load began: the clock of every Outcome. */
  now: () => number
  /** Stops sending, waits for every request in flight, and returns all outcomes. */
  stop: () => Promise<Outcome[]>
}

/**
 * `clients` keep-alive connections, each sending GET `path` one after the other,
 * until stop() or, at the latest, `limitMs` or `maxRequests` in all.
 */
export function startLoad (url: string, path: string, clients: number, limitMs: number, maxRequests: number): Load {
  const agent = new Agent({ keepAlive: true, maxSockets: clients })
  const began = performance.now()
  const now = () => performance.now() - began
  const outcomes: Outcome[] = []
  let stopped = false

  function once (): Promise<Outcome> {
    const start = now()
    return new Promise((resolve) => {
      const finish = (fields: Partial<Outcome> & { status: number }) => resolve({ start, end: now(), ...fields })
      const req = request(new URL(path, url), { agent, timeout: 5000 }, (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => { body += chunk })
        response.on('error', (error) => finish({ status: 0, error: error.message }))
        response.on('end', () => {
          const status = response.statusCode ?? 0
          if (status !== 200) return finish({ status, error: body })
          const answer = JSON.parse(body) as { acesso_id: number, total_acessos: number }
          finish({ status, id: answer.acesso_id, total: answer.total_acessos })
        })
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', (error: NodeJS.ErrnoException) => finish({ status: 0, error: error.code ?? error.message }))
      req.end()
    })
  }

  const going = () => !stopped && now() < limitMs && outcomes.length < maxRequests
  async function client (): Promise<void> {
    while (going()) outcomes.push(await once())
  }
  const running = Promise.all(Array.from({ length: clients }, client))

  return {
    now,
    async stop () {
      stopped = true
      await running
      agent.destroy()
      return outcomes
    }
  }
}
