/**
 * The TCP ring's same-host payload path. Two ranks on one machine share a file in /dev/shm: the
 * sender copies a payload into it and sends only a small frame naming where it lies, and the
 * receiver copies it out (or straight into the posted receive). One memcpy each way, against
 * loopback TCP's two kernel copies, a syscall per 64 KiB and a wake-up per window (`npm run
 * bench:allreduce -- --transport tcp,tcp+shm` compares them). NCCL and MPI take the same path
 * between processes of one node.
 *
 * The sender owns the segment. It creates it when its successor connects and offers it in the
 * HELLO answer with a random nonce; the receiver maps the file and checks the nonce, which
 * proves the two share a /dev/shm (two containers or hosts do not), and answers. The sender then
 * unlinks the file: both mappings stay valid and nothing is left behind. Without the native
 * addon, without /dev/shm, or with no room in it, payloads simply keep going over the socket.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nativeSharedMemory } from '../native';
import { QUEUE_END } from './shm-frame-queue';

/**
 * Segment header: magic, then the 16-byte nonce; then the frame queue (shm-frame-queue.ts);
 * payloads start at DATA_START. The magic names the layout: a peer with another one is refused.
 */
const MAGIC = 0x324d5352; // "RSM2" little-endian
export const DATA_START = QUEUE_END;
const ALIGN = 64;
const SHM_DIR = '/dev/shm';

/** A segment this rank created for one successor, until the successor answers the offer. */
export interface SegmentOffer {
  path: string;
  bytes: number;
  nonce: string;
  view: Uint8Array;
}

/** Creates a segment of `bytes` to offer a successor, or says why there is none. */
export function createSegment(bytes: number, dir: string = SHM_DIR): SegmentOffer | { why: string } {
  const { shm, why } = nativeSharedMemory();
  if (shm === undefined) return { why: `no native addon (${why ?? 'not loaded'})` };
  if (!fs.existsSync(dir)) return { why: `${dir} does not exist` };
  // Named for this process, so the launcher can clear what a killed worker left (removeSegmentsOf).
  const file = path.join(dir, `ringtrain-${process.pid}-${randomBytes(6).toString('hex')}`);
  let buf: ArrayBuffer;
  try {
    buf = shm.mapShared(file, bytes, true);
  } catch (e) {
    return {
      why: `cannot create a ${Math.round(bytes / 2 ** 20)} MiB segment in ${dir} (${(e as Error).message}): give the container more shared memory (docker --shm-size, a Kubernetes emptyDir with medium Memory on /dev/shm) or lower cluster.sharedMemoryMb`,
    };
  }
  const view = new Uint8Array(buf);
  const nonce = randomBytes(16);
  new DataView(buf).setUint32(0, MAGIC, true);
  view.set(nonce, 4);
  return { path: file, bytes, nonce: nonce.toString('hex'), view };
}

/**
 * Whether a peer's address is one of this host's own (loopback or an interface address): only
 * then is a segment worth offering. Pods and hosts have addresses of their own, so they are not
 * asked to map a file they cannot see; containers sharing a network namespace but not /dev/shm
 * are caught by the nonce.
 */
export function isOwnAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.replace(/^::ffff:/, '');
  if (a === '::1' || a.startsWith('127.')) return true;
  return Object.values(os.networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === a));
}

/** host and port of a ring address ('127.0.0.1:4567', '[::1]:4567'). */
export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** How many of a ring's ranks (host:port addresses) run on this host. */
export function sameHostRanks(addresses: readonly string[]): number {
  return addresses.filter((a) => isOwnAddress(splitAddress(a).host)).length;
}

/**
 * Removes the segment files a dead process left: one killed between offering a segment and its
 * neighbour's answer never unlinked it. The launcher calls this as each worker exits.
 */
export function removeSegmentsOf(pid: number, dir: string = SHM_DIR): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.startsWith(`ringtrain-${pid}-`));
  } catch {
    return [];
  }
  for (const n of names) fs.rmSync(path.join(dir, n), { force: true });
  return names;
}

/** Removes a segment's file (after the receiver mapped it, or when the offer is dropped). */
export function unlinkSegment(file: string): void {
  nativeSharedMemory().shm?.unlinkShared(file);
}

/** The HELLO answer's offer line, and its parse on the receiving side. */
export function offerLine(o: SegmentOffer): string {
  return `shm ${o.bytes} ${o.nonce} ${o.path}`;
}

export function parseOffer(line: string): { path: string; bytes: number; nonce: string } | undefined {
  const m = /^shm (\d+) ([0-9a-f]{32}) (\/.+)$/.exec(line);
  if (m === null) return undefined;
  return { bytes: Number(m[1]), nonce: m[2] as string, path: m[3] as string };
}

/** The receiver maps an offered segment; the nonce shows it is the sender's file. */
export function openSegment(offer: { path: string; bytes: number; nonce: string }): Uint8Array | { why: string } {
  const { shm, why } = nativeSharedMemory();
  if (shm === undefined) return { why: `no native addon here (${why ?? 'not loaded'})` };
  let buf: ArrayBuffer;
  try {
    buf = shm.mapShared(offer.path, offer.bytes, false);
  } catch (e) {
    return { why: `cannot map ${offer.path} (${(e as Error).message}): the peer is on another host or container` };
  }
  const view = new Uint8Array(buf);
  const magic = new DataView(buf).getUint32(0, true);
  if (magic !== MAGIC || Buffer.from(view.subarray(4, 20)).toString('hex') !== offer.nonce) {
    return { why: `${offer.path} here is not the peer's segment (another host's /dev/shm)` };
  }
  return view;
}

interface Region {
  start: number;
  end: number;
  freed: boolean;
}

/**
 * The sender's allocator over its segment: a ring buffer. Regions are taken at the head and
 * freed when the receiver acknowledges them, mostly in order; the tail moves past freed regions
 * only, so an early region still in use is never overwritten. A payload that does not fit goes
 * over the socket instead: nothing ever waits for space, so no cycle of waits can form.
 */
export class SegmentRing {
  private readonly regions: Region[] = [];

  constructor(readonly view: Uint8Array) {}

  /** Offset of `bytes` of free space, or -1 when there is none. */
  alloc(bytes: number): number {
    const size = this.view.byteLength;
    const need = Math.ceil(bytes / ALIGN) * ALIGN;
    const first = this.regions[0];
    const last = this.regions[this.regions.length - 1];
    let at = -1;
    if (first === undefined || last === undefined) {
      at = DATA_START + need <= size ? DATA_START : -1;
    } else if (last.start >= first.start) {
      // Not wrapped: room after the last region, else at the front before the first.
      if (last.end + need <= size) at = last.end;
      else if (DATA_START + need <= first.start) at = DATA_START;
    } else if (last.end + need <= first.start) {
      at = last.end;
    }
    if (at >= 0) this.regions.push({ start: at, end: at + need, freed: false });
    return at;
  }

  free(offset: number): void {
    const r = this.regions.find((x) => x.start === offset && !x.freed);
    if (r === undefined) return;
    r.freed = true;
    while (this.regions.length > 0 && (this.regions[0] as Region).freed) this.regions.shift();
  }

  /** Regions still awaiting their receiver's acknowledgement. */
  get inUse(): number {
    return this.regions.filter((r) => !r.freed).length;
  }
}
