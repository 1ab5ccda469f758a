/**
 * A maximum MQTT packet size, enforced while the bytes arrive, in front of aedes.
 *
 * aedes 1.x hands every socket to mqtt-packet's parser, which has no size limit: it appends what
 * arrives to a buffer list until the packet's announced "remaining length" (up to 256 MB, MQTT
 * 3.1.1 §2.2.3) is there. One unauthenticated CONNECT announcing 128 MB and trickling bytes thus
 * grows the controller by whatever it sends, before any credentials are seen. This guard sits
 * between the socket and aedes: it reads only the fixed header of each packet (type byte and the
 * remaining-length varint), passes the bytes through unchanged, and destroys the connection as
 * soon as a header announces a packet larger than the limit — after a few bytes, not 128 MB.
 */

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** Why a guarded connection was cut. */
export class PacketTooLargeError extends Error {
  override name = 'PacketTooLargeError';
  constructor(
    readonly announced: number,
    readonly limit: number,
  ) {
    super(`MQTT packet of ${announced} bytes exceeds the limit of ${limit} bytes`);
  }
}

export class MalformedLengthError extends Error {
  override name = 'MalformedLengthError';
  constructor() {
    // [MQTT-2.2.3] the remaining length takes at most four bytes
    super('malformed MQTT remaining length (more than four bytes)');
  }
}

/**
 * Follows the MQTT framing of a byte stream: packet boundaries and each packet's total size
 * (fixed header included). `feed` throws when a packet is larger than `limit` or malformed.
 */
export class PacketSizeMeter {
  /** bytes of the current packet's body still to skip; -1 while reading a fixed header */
  #remaining = -1;
  /** bytes of the fixed header read so far (type byte + length bytes) */
  #headerBytes = 0;
  #length = 0;
  #multiplier = 1;

  constructor(readonly limit: number) {}

  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#remaining > 0) {
        const skip = Math.min(this.#remaining, chunk.length - i);
        this.#remaining -= skip;
        i += skip;
        if (this.#remaining === 0) this.#remaining = -1;
        continue;
      }
      const byte = chunk[i++] as number;
      this.#headerBytes++;
      if (this.#headerBytes === 1) continue; // the packet type and flags: aedes checks those
      if (this.#headerBytes > 5) throw new MalformedLengthError();
      this.#length += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      if (byte & 0x80) continue;
      const total = this.#headerBytes + this.#length;
      if (total > this.limit) throw new PacketTooLargeError(total, this.limit);
      this.#remaining = this.#length === 0 ? -1 : this.#length;
      this.#headerBytes = 0;
      this.#length = 0;
      this.#multiplier = 1;
    }
  }
}

/**
 * Wraps a socket for aedes: reads pass through a PacketSizeMeter, writes go straight to the
 * socket, and destroying either side destroys both. The socket's own backpressure is kept: the
 * socket is paused while aedes has not read what was passed on.
 */
export class PacketGuard extends Duplex {
  readonly #socket: Socket;
  readonly #meter: PacketSizeMeter;

  constructor(socket: Socket, maxPacketBytes: number) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.#meter = new PacketSizeMeter(maxPacketBytes);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#meter.feed(chunk);
      } catch (err) {
        // Nothing of this chunk reaches the parser: the connection ends here.
        this.destroy(err as Error);
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // The callback waits for the socket, so aedes sees the socket's backpressure ('drain').
    this.#socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#socket.destroy();
    cb(err);
  }
}
