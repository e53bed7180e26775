import { readFileSync } from 'node:fs';
import net from 'node:net';
import { LocalKafkaError } from './errors.ts';

/**
 * Ports for the nodes. A node keeps its ports for life (a restarted node must be found where it
 * was), so they are taken BELOW the kernel's ephemeral range: a port from that range may, while the
 * node is down, become the local end of some outgoing connection (a client of this very cluster)
 * and keep the node from starting again. The kernel's "any free port" (listen on 0) picks from the
 * ephemeral range, so it is not used.
 */
const lowestPort = 10_000;
/** Linux's default start of the ephemeral range; macOS's starts higher (49152). */
const defaultEphemeralLow = 32_768;
const pickAttempts = 500;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    // A range that starts very low leaves nothing below it: fall back rather than fail.
    if (Number.isInteger(low) && low > lowestPort + 1000) return low;
  } catch {
    // No /proc (macOS): the default below holds there too.
  }
  return defaultEphemeralLow;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** `count` distinct ports that 127.0.0.1 can listen on now. */
export async function pickPorts(count: number): Promise<number[]> {
  const high = ephemeralLow();
  const picked = new Set<number>();
  for (let attempt = 0; picked.size < count && attempt < pickAttempts; attempt += 1) {
    const port = lowestPort + Math.floor(Math.random() * (high - lowestPort));
    if (!picked.has(port) && (await canListen(port))) picked.add(port);
  }
  if (picked.size < count) {
    throw new LocalKafkaError(`found no ${count} free ports on 127.0.0.1 between ${lowestPort} and ${high}`);
  }
  return [...picked];
}
