import net from 'node:net';
import tls from 'node:tls';

/**
 * A TCP proxy on loopback in front of a backend, for fault tests: it counts the bytes sent to the backend
 * and can cut every connection (and refuse new ones) at a chosen moment, as a backend that dies mid-write.
 * With `tls`, it is a TLS endpoint in front of a plain one (HTTPS to Ceph RGW, with a test CA's certificate).
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

export async function startTcpProxy(
  target: string,
  options: { tls?: { cert: string; key: string } } = {},
): Promise<TcpProxy> {
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
  const onClient = (client: net.Socket) => {
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
  };
  const server = options.tls ? tls.createServer(options.tls, onClient) : net.createServer(onClient);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
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
