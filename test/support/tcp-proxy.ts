// A TCP proxy between a client under test and its server, for faults no server command can make
// on one client alone: pause (bytes wait in the proxy, so a command times out at the client and
// still runs later, as over a stalled network), drop every connection (a reconnect), and switch
// to another server (a failover behind one address, as a DNS name or a virtual IP gives).
import type { Socket } from "bun";

type End = { socket: Socket<Pipe> | null; queue: Uint8Array[] };
type Pipe = { client: End; server: End; closed: boolean };

function send(end: End, chunk: Uint8Array, paused: boolean) {
  if (paused || !end.socket || end.queue.length) end.queue.push(chunk);
  else {
    const n = end.socket.write(chunk);
    if (n < chunk.length) end.queue.push(chunk.subarray(n));
  }
}
function flush(end: End) {
  while (end.socket && end.queue.length) {
    const chunk = end.queue[0]!;
    const n = end.socket.write(chunk);
    if (n < chunk.length) {
      end.queue[0] = chunk.subarray(n);
      return; // the rest on "drain"
    }
    end.queue.shift();
  }
}

export async function startTcpProxy(target: { host: string; port: number }) {
  let upstream = target;
  let paused = false;
  let blackhole = false;
  const pipes = new Set<Pipe>();
  const close = (pipe: Pipe) => {
    // A dead network carries no FIN either: the other side stays open, none the wiser.
    if (pipe.closed || blackhole) return;
    pipe.closed = true;
    pipes.delete(pipe);
    pipe.client.socket?.end();
    pipe.server.socket?.end();
  };
  const listener = Bun.listen<Pipe>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const pipe: Pipe = { client: { socket: client, queue: [] }, server: { socket: null, queue: [] }, closed: false };
        client.data = pipe;
        pipes.add(pipe);
        Bun.connect<Pipe>({
          hostname: upstream.host,
          port: upstream.port,
          data: pipe,
          socket: {
            open(server) {
              pipe.server.socket = server;
              if (pipe.closed) server.end();
              else if (!paused) flush(pipe.server);
            },
            data(_server, chunk) {
              send(pipe.client, chunk, paused);
            },
            drain() {
              if (!paused) flush(pipe.server);
            },
            close() {
              close(pipe);
            },
            error() {
              close(pipe);
            },
          },
        }).catch(() => close(pipe));
      },
      data(client, chunk) {
        send(client.data.server, chunk, paused);
      },
      drain(client) {
        if (!paused) flush(client.data.client);
      },
      close(client) {
        close(client.data);
      },
      error(client) {
        close(client.data);
      },
    },
  });
  return {
    port: listener.port,
    url: `redis://127.0.0.1:${listener.port}/0`,
    /** Holds every byte in both directions until resume(). */
    pause() {
      paused = true;
    },
    /** A network gone silent: no byte passes, and no close reaches the other side, until resume(). */
    blackhole() {
      paused = true;
      blackhole = true;
    },
    resume() {
      paused = false;
      blackhole = false;
      for (const pipe of pipes) {
        flush(pipe.server);
        flush(pipe.client);
      }
    },
    /** Closes every connection (the clients reconnect through the proxy). */
    dropAll() {
      for (const pipe of [...pipes]) close(pipe);
    },
    /** New connections go to another server from now on (existing ones are left as they are). */
    switchTo(next: { host: string; port: number }) {
      upstream = next;
    },
    connections: () => pipes.size,
    stop() {
      blackhole = false;
      for (const pipe of [...pipes]) close(pipe);
      listener.stop(true);
    },
  };
}
