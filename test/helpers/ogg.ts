/**
 * Ogg page surgery for tests: find the pages of a real Ogg file, change a page's granule position
 * and write the page CRC again, so that parsers accept the result and take the real parsing path.
 */

// RFC 3533 §6 / the Ogg framing spec: CRC-32 with polynomial 0x04C11DB7, no reflection, init 0,
// no final XOR, computed over the whole page with its CRC field zeroed.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

/** The Ogg CRC-32 of `bytes`. */
export function oggCrc(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  return crc;
}

/** Offset and length of every page in `ogg` (header: 27 bytes, segment table, then the segments). */
export function oggPages(ogg: Buffer): { offset: number; length: number }[] {
  const pages: { offset: number; length: number }[] = [];
  let offset = 0;
  while (offset + 27 <= ogg.length) {
    if (ogg.toString('latin1', offset, offset + 4) !== 'OggS') throw new Error(`no Ogg page at ${offset}`);
    const segments = ogg[offset + 26]!;
    let length = 27 + segments;
    for (let i = 0; i < segments; i++) length += ogg[offset + 27 + i]!;
    pages.push({ offset, length });
    offset += length;
  }
  return pages;
}

/** Whether the page at `offset` (of `length` bytes) carries a correct CRC. */
export function pageCrcOk(ogg: Buffer, { offset, length }: { offset: number; length: number }): boolean {
  const page = Buffer.from(ogg.subarray(offset, offset + length));
  const stored = page.readUInt32LE(22);
  page.writeUInt32LE(0, 22);
  return oggCrc(page) === stored;
}

/** A copy of `ogg` whose last page has granule position `granule`, with that page's CRC made right. */
export function withLastGranule(ogg: Buffer, granule: bigint): Buffer {
  const out = Buffer.from(ogg);
  const last = oggPages(out).at(-1)!;
  out.writeBigInt64LE(granule, last.offset + 6);
  out.writeUInt32LE(0, last.offset + 22);
  out.writeUInt32LE(oggCrc(out.subarray(last.offset, last.offset + last.length)), last.offset + 22);
  return out;
}
