import net from 'node:net';

/**
 * A TCP proxy on loopback in front of a backend, for fault tests: it counts the bytes sent to the backend
 * and can cut every connection (and refuse new ones) at a chosen moment, as a backend that dies mid-write.
 */
export interface TcpProxy {
  url: string;
  /** Bytes forwarded from clients to the backend so far. */
  readonly upstreamBytes: number;
  /** Cuts all connections, now or once `afterBytes` more bytes went upstream; refuses new ones until restore(). */
  cut(afterBytes?: number): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const t = new URL(target);
  const sockets = new Set<net.Socket>();
  let upstream = 0;
  let cutAt = Number.POSITIVE_INFINITY;
  let down = false;
  const cutAll = () => {
    down = true;
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  const server = net.createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const backend = net.connect(Number(t.port), t.hostname);
    sockets.add(client).add(backend);
    client.on('data', (chunk: Buffer) => {
      upstream += chunk.length;
      if (upstream >= cutAt) cutAll();
      else if (!backend.write(chunk)) {
        client.pause();
        backend.once('drain', () => client.resume());
      }
    });
    backend.pipe(client);
    const end = () => {
      client.destroy();
      backend.destroy();
      sockets.delete(client);
      sockets.delete(backend);
    };
    client.on('close', end).on('error', end);
    backend.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get upstreamBytes() {
      return upstream;
    },
    cut(afterBytes = 0) {
      cutAt = upstream + afterBytes;
      if (afterBytes === 0) cutAll();
    },
    restore() {
      down = false;
      cutAt = Number.POSITIVE_INFINITY;
    },
    close: () =>
      new Promise<void>((resolve) => {
        cutAll();
        server.close(() => resolve());
      }),
  };
}
