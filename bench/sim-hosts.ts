/**
 * Simulated hosts: N Linux network namespaces, each with one veth link into a switch namespace
 * that holds a bridge, each link capped by a tbf qdisc at both ends (so both directions run at
 * the link's rate, as a full-duplex port does). Every name carries this run's prefix
 * (`rthosts-<pid>-`), and the bridge and both ends of every veth live inside namespaces this
 * process made: deleting the namespaces removes every link, and the root namespace is never
 * touched. The subnet is private to those namespaces, so concurrent runs cannot collide.
 *
 * The kernel here has no netem, so links add no latency beyond the kernel's own; tbf caps the
 * rate. Programs are started in a host with `ip netns exec`, which execs them (the pid we get is
 * the program's).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

/** Host i has 10.213.0.(i + 1); nothing outside this run's namespaces uses the subnet. */
const SUBNET = '10.213.0';
/** How long any one `ip`/`tc` call may take. */
const IP_TIMEOUT_MS = 10_000;
const PREFIX = 'rthosts-';

export interface SimHost {
  /** Namespace name. */
  ns: string;
  /** The host's address on the simulated network. */
  ip: string;
  /** Its interface inside the namespace. */
  iface: string;
}

export interface SimHosts {
  prefix: string;
  hosts: SimHost[];
  /** Line rate of every link in Mbit/s; undefined = not shaped. */
  rateMbit?: number;
  /** What could not be set up as it should and makes the links less faithful (printed by the tools). */
  notes: string[];
  /** Starts `cmd args` inside host i. */
  spawnIn(i: number, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Stops whatever still runs in the hosts and deletes every namespace of this run. Idempotent. */
  down(): void;
}

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', timeout: IP_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
}

function inNs(ns: string, cmd: string, args: readonly string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
    timeout: IP_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Namespace names `ip netns list` shows. */
export function listNamespaces(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/**
 * Why this machine cannot make namespaces (no root, a container without CAP_SYS_ADMIN, no
 * iproute2), tried for real with a throwaway namespace; undefined when it can.
 */
export function netnsRefusal(): string | undefined {
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    ip(['netns', 'add', probe]);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return `ip netns add was refused: ${(err.stderr ?? '').trim() || err.message}`;
  } finally {
    try {
      ip(['netns', 'del', probe]);
    } catch {
      // Never made.
    }
  }
  return undefined;
}

/**
 * The largest packet a veth hands its qdisc. A veth's default (64 KiB of payload plus headers) is
 * larger than a 64 KiB bucket, and tbf then cuts every packet into MTU-sized ones in software, on
 * the sending rank's CPU, which a real NIC would not take. 32 KiB packets pass whole.
 */
export const GSO_MAX_BYTES = 32 * 1024;

/** Caps a link end's packets at GSO_MAX_BYTES; an ip or kernel that refuses leaves a note instead. */
export function smallPackets(ns: string, dev: string, notes: string[]): void {
  try {
    ip(['-n', ns, 'link', 'set', 'dev', dev, 'gso_max_size', String(GSO_MAX_BYTES)]);
  } catch (e) {
    const why = String((e as { stderr?: unknown }).stderr ?? (e as Error).message).trim();
    if (notes.length === 0)
      notes.push(
        `the links keep their 64 KiB packets (ip refused gso_max_size: ${why}): tbf cuts them in software, on the sending rank's CPU, and the links carry less than their rate`,
      );
  }
}

/**
 * tbf's bucket must hold what the kernel hands it at once (a GSO packet on a veth, at most
 * GSO_MAX_BYTES: see hostsUp), and little more: bytes in the bucket leave at memory speed, so a
 * bucket as large as a step's gradients (the MLP's are 400 KB) would let every step through
 * unshaped. Above 2.5 Gbit/s it holds 0.2 ms of the rate, so the kernel's timers can keep up.
 */
export function tbfArgs(iface: string, rateMbit: number): string[] {
  const burstBytes = Math.max(64 * 1024, Math.ceil((rateMbit * 1e6) / 8 / 5000));
  return [
    'qdisc',
    'add',
    'dev',
    iface,
    'root',
    'tbf',
    'rate',
    `${rateMbit}mbit`,
    'burst',
    String(burstBytes),
    'latency',
    '50ms',
  ];
}

/** Kills what runs in a namespace (only processes started inside this run's namespaces), then deletes it. */
function removeNamespace(ns: string): void {
  try {
    for (const pid of ip(['netns', 'pids', ns])
      .split('\n')
      .filter((p) => /^\d+$/.test(p))) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    ip(['netns', 'del', ns]);
  } catch {
    // Already deleted.
  }
}

/** Makes `count` hosts on one bridge, links shaped to `rateMbit` (undefined = unshaped). */
export function hostsUp(count: number, rateMbit?: number, tag = String(process.pid)): SimHosts {
  if (!Number.isInteger(count) || count < 1 || count > 200)
    throw new Error(`simulated hosts: count must be an integer in 1..200, got ${count}`);
  const prefix = `${PREFIX}${tag}-`;
  const sw = `${prefix}sw`;
  const hosts: SimHost[] = [];
  const notes: string[] = [];
  let downDone = false;
  const down = (): void => {
    if (downDone) return;
    downDone = true;
    for (const h of hosts) removeNamespace(h.ns);
    removeNamespace(sw);
  };
  try {
    ip(['netns', 'add', sw]);
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    for (let i = 0; i < count; i++) {
      const h: SimHost = { ns: `${prefix}h${i}`, ip: `${SUBNET}.${i + 1}`, iface: 'eth0' };
      ip(['netns', 'add', h.ns]);
      hosts.push(h);
      ip(['-n', sw, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', h.iface, 'netns', h.ns]);
      ip(['-n', sw, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
      ip(['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.iface]);
      ip(['-n', h.ns, 'link', 'set', h.iface, 'up']);
      ip(['-n', h.ns, 'link', 'set', 'lo', 'up']);
      if (rateMbit !== undefined) {
        smallPackets(h.ns, h.iface, notes);
        smallPackets(sw, `p${i}`, notes);
        inNs(h.ns, 'tc', tbfArgs(h.iface, rateMbit));
        inNs(sw, 'tc', tbfArgs(`p${i}`, rateMbit));
      }
    }
  } catch (e) {
    down();
    const err = e as { stderr?: Buffer | string; message: string };
    throw new Error(`could not make ${count} simulated hosts: ${String(err.stderr ?? '').trim() || err.message}`);
  }
  const spawnIn = (i: number, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess => {
    const h = hosts[i];
    if (h === undefined) throw new Error(`no simulated host ${i} (there are ${hosts.length})`);
    return spawn('ip', ['netns', 'exec', h.ns, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
  };
  return { prefix, hosts, rateMbit, notes, spawnIn, down };
}

/**
 * Deletes every namespace of this tool whose owning process is gone (a run that was SIGKILLed
 * could not clean up); returns their names.
 */
export function removeStaleHosts(): string[] {
  const stale = listNamespaces().filter((n) => {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(n);
    if (m === null) return false;
    try {
      process.kill(Number(m[1]), 0);
      return false;
    } catch {
      return true;
    }
  });
  stale.forEach(removeNamespace);
  return stale;
}

/**
 * Runs `body` with hosts up and takes them down afterwards, also when the process is
 * interrupted (SIGINT/SIGTERM: down, then exit with 128 + the signal's number).
 */
export async function withHosts<T>(
  count: number,
  rateMbit: number | undefined,
  body: (h: SimHosts) => Promise<T>,
): Promise<T> {
  const hosts = hostsUp(count, rateMbit);
  const onSignal = (sig: NodeJS.Signals): void => {
    hosts.down();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', hosts.down);
  try {
    return await body(hosts);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', hosts.down);
    hosts.down();
  }
}
