import { once } from 'node:events'
import { createConnection, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface Target {
  host: string
  port: number
}

/** A link between one client and the real service. */
interface Link {
  client: Socket
  upstream: Socket | undefined
}

export interface Proxy {
  port: number
  /** Stops listening and drops every connection: new ones get ECONNREFUSED, as with a stopped service. */
  refuse: () => Promise<void>
  /**
   * Keeps accepting TCP but forwards nothing either way, as with `docker compose
   * pause`: what is sent waits in the buffers and is delivered on `restore()`.
   */
  freeze: () => void
  /** Listens again on the same port and forwards everything, including what a freeze held. */
  restore: () => Promise<void>
  /**
   * From now on, a connection the service closes stays open towards its client
   * (what the service sent before still arrives) until `release()`, as if the
   * close were slow to arrive. `serviceClosed` resolves once the service has closed one.
   */
  holdEnds: () => { serviceClosed: Promise<void>, release: () => void }
}

/**
 * A TCP proxy on a free loopback port in front of a real service, so a test can
 * stop or freeze "the dependency" without touching the shared one. Closed after the test.
 */
export async function startProxy (t: Test, target: Target): Promise<Proxy> {
  const links = new Set<Link>()
  let frozen = false
  let heldEnds: Link[] | undefined
  let serviceClosed = () => {}

  function passEnd (link: Link): void {
    serviceClosed()
    if (heldEnds === undefined) link.client.end()
    else heldEnds.push(link)
  }

  function flow (link: Link): void {
    if (link.upstream === undefined) {
      const upstream = createConnection(target)
      link.upstream = upstream
      upstream.on('error', () => drop(link))
      upstream.on('close', () => passEnd(link))
    }
    link.client.pipe(link.upstream)
    // The service's end is passed on by passEnd, which may hold it.
    link.upstream.pipe(link.client, { end: false })
  }

  function hold (link: Link): void {
    link.client.unpipe()
    link.client.pause()
    link.upstream?.unpipe()
    link.upstream?.pause()
  }

  function drop (link: Link): void {
    link.client.destroy()
    link.upstream?.destroy()
    links.delete(link)
  }

  const server = createServer({ pauseOnConnect: true }, (client) => {
    const link: Link = { client, upstream: undefined }
    links.add(link)
    client.on('error', () => drop(link))
    client.on('close', () => drop(link))
    // A frozen service's kernel still completes the handshake; the upstream
    // connection is only made once it thaws.
    if (!frozen) flow(link)
  })

  async function listen (port: number): Promise<number> {
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    return (server.address() as { port: number }).port
  }

  async function close (): Promise<void> {
    for (const link of links) drop(link)
    if (!server.listening) return
    await new Promise((resolve) => server.close(resolve))
  }

  const port = await listen(0)
  t.teardown(close)

  return {
    port,
    refuse: close,
    freeze () {
      frozen = true
      for (const link of links) hold(link)
    },
    async restore () {
      frozen = false
      for (const link of links) flow(link)
      if (!server.listening) await listen(port)
    },
    holdEnds () {
      heldEnds = []
      const closed = new Promise<void>((resolve) => { serviceClosed = resolve })
      return {
        serviceClosed: closed,
        release () {
          for (const link of heldEnds ?? []) link.client.end()
          heldEnds = undefined
        }
      }
    }
  }
}
