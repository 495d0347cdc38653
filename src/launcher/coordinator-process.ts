/**
 * Node 0's coordinator as a child of the launcher. Its port is never guessed: it binds the given
 * port (0 = any) and says which over the IPC channel. A restarted coordinator comes back on the
 * same gRPC and metrics ports, so the workers find it again and the status-page URL the launcher
 * printed (and a Prometheus target) stays right.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LaunchOptions } from './launch-options';
import type { Supervisor } from './supervisor';

/** How long the coordinator may take to report its port. */
export const COORDINATOR_START_MS = 30_000;

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.');

export interface StartedCoordinator {
  port: number;
  /** '; status page http://...' for the launcher's first line, or '' when there is none. */
  statusUrl: string;
}

/** Starts the coordinator; resolves to its gRPC port, or undefined when it did not start in time. */
export function startCoordinatorProcess(
  sup: Supervisor,
  o: LaunchOptions,
  jobFile: string,
  world: number,
): Promise<StartedCoordinator | undefined> {
  const stateFile = path.join(o.outDir, 'coordinator-state.json');
  fs.rmSync(stateFile, { force: true });
  const nodes = o.nodes;
  // Other nodes reach it over the network: every interface, unless it was given a loopback address.
  const bindHost =
    nodes === undefined ? '127.0.0.1' : isLoopback(nodes.coordinatorHost) ? nodes.coordinatorHost : '0.0.0.0';
  let metricsPort = o.spec.observe.metricsPort;
  let coordinatorPort = nodes?.coordinatorPort ?? 0;
  const args = (): string[] => [
    ...['coordinator', jobFile, '--host', bindHost, '--port', String(coordinatorPort), '--world-size', String(world)],
    ...['--state-file', stateFile],
    ...(metricsPort === 0 ? [] : ['--set', `observe.metricsPort=${metricsPort}`]),
  ];
  const coordinator = sup.spawn({ name: 'coordinator', args: args(), env: {}, restartArgs: args });
  return new Promise<StartedCoordinator | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), COORDINATOR_START_MS);
    coordinator.proc.on('message', (m: unknown) => {
      const msg = m as { kind?: string; grpcPort?: number; metricsPort?: number };
      if (msg.kind !== 'listening' || typeof msg.grpcPort !== 'number') return;
      clearTimeout(timer);
      let statusUrl = '';
      if (typeof msg.metricsPort === 'number') {
        metricsPort = msg.metricsPort;
        const host = ['0.0.0.0', '::', ''].includes(o.spec.observe.metricsHost)
          ? '127.0.0.1'
          : o.spec.observe.metricsHost;
        statusUrl = `; status page http://${host.includes(':') ? `[${host}]` : host}:${msg.metricsPort}/`;
      }
      coordinatorPort = msg.grpcPort;
      resolve({ port: msg.grpcPort, statusUrl });
    });
    void coordinator.exited.then(() => resolve(undefined));
  });
}
