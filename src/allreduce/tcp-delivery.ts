/**
 * The receiving end of the TCP ring's data frames: a DATA frame read from the socket, or a
 * DATA_SHARED one (its payload in the predecessor's segment) that came down the socket or out of
 * the segment's frame queue (after a kick, or while polling). Each goes to the mailbox and is
 * answered with ACK or NACK down the socket it belongs to.
 */
import type * as net from 'node:net';
import { isRingtrainError } from '../core';
import type { Mailbox } from './mailbox';
import type { SharedLinks } from './tcp-shared-links';
import {
  FrameType,
  HEADER_BYTES,
  NACK_CODES,
  SHARED_BODY_BYTES,
  controlFrame,
  readHeader,
  type Frame,
  type NackCode,
} from './tcp-frame';

export class FrameDelivery {
  constructor(
    private readonly job: string,
    private readonly mailbox: Mailbox,
    private readonly shared: SharedLinks,
  ) {}

  /** A DATA or DATA_SHARED frame from the predecessor: into the mailbox, then ACK or NACK down `socket`. */
  data(socket: net.Socket, f: Frame, body: Uint8Array, refused: Error | undefined): void {
    let bytes = body;
    let refusal = refused;
    if (refusal === undefined && f.type === FrameType.DataShared) {
      const arrival = this.shared.arrival(body);
      if ('refusal' in arrival) refusal = arrival.refusal;
      else bytes = arrival.bytes;
    }
    if (refusal !== undefined) {
      this.answer(socket, f.msgId, refusal);
      return;
    }
    // A shared payload is copied out of the segment when it is matched, before the ACK that
    // lets the sender reuse the region.
    this.mailbox
      .deliver({
        job: this.job,
        generation: f.generation,
        fromRank: f.fromRank,
        key: { op: f.op, ...f.key },
        elements: f.elements,
        dtype: f.dtype,
        bytes,
      })
      .then(
        () => this.answer(socket, f.msgId),
        (e: Error) => this.answer(socket, f.msgId, e),
      );
  }

  private answer(socket: net.Socket, msgId: number, err?: Error): void {
    if (socket.destroyed) return;
    if (err === undefined) {
      socket.write(controlFrame(FrameType.Ack, { msgId }, ''));
      return;
    }
    const code: NackCode =
      isRingtrainError(err) && (NACK_CODES as readonly string[]).includes(err.code)
        ? (err.code as NackCode)
        : 'PEER_REFUSED';
    socket.write(controlFrame(FrameType.Nack, { msgId, nackCode: code }, err.message));
  }

  /** Takes the DATA_SHARED frames the predecessor queued in its segment (after a kick, or polling). */
  drainShared(socket: net.Socket): void {
    this.shared.drain((frame) => {
      const f = readHeader(frame, 0);
      if (f.type !== FrameType.DataShared || f.length !== SHARED_BODY_BYTES)
        throw new Error(`frame type ${f.type} of ${f.length} bytes in the shared frame queue`);
      this.data(socket, f, frame.subarray(HEADER_BYTES, HEADER_BYTES + SHARED_BODY_BYTES), undefined);
    });
  }
}
