/**
 * What a client asks PostgreSQL, read off the wire (the frontend side of the protocol, v3): each
 * statement run (a simple `Query`, or an extended-protocol `Execute`) with its SQL, and each round
 * trip: a write of the client's that holds one or more `Query`s or `Sync`s (each waits for the
 * server's answer), so statements pipelined in one write (store/pipelined-statements.ts) are one
 * round trip, as they are to the client, which waits once. A client never sends its next round
 * trip before the server answered the last, so two never arrive as one read of the proxy. Fed the
 * bytes a proxy forwards (FreezableProxy's `tap`), so it counts what really reaches the server
 * whatever library sends it: Prisma, pg, or anything after them.
 */
export class PostgresStatementLog {
  /** The SQL of each statement run, in the order they reached the proxy (across connections). */
  readonly statements: string[] = [];
  private roundTripCount = 0;
  private readonly connections = new Map<number, WireReader>();

  get roundTrips(): number {
    return this.roundTripCount;
  }

  /** Forgets what was seen so far; connections already open keep being read. */
  reset(): void {
    this.statements.length = 0;
    this.roundTripCount = 0;
  }

  /** Bytes a client sent on connection `id` (any id that stays the same for one connection). */
  read(id: number, chunk: Buffer): void {
    let reader = this.connections.get(id);
    if (!reader) this.connections.set(id, (reader = new WireReader()));
    let waits = false;
    reader.push(chunk, (type, body) => {
      waits ||= type === 'Q' || type === 'S';
      this.message(reader, type, body);
    });
    if (waits) this.roundTripCount += 1;
  }

  /** Connection `id` closed. */
  closed(id: number): void {
    this.connections.delete(id);
  }

  private message(reader: WireReader, type: string, body: Buffer): void {
    switch (type) {
      case 'Q':
        this.statements.push(cString(body, 0).text);
        return;
      case 'P': {
        const name = cString(body, 0);
        reader.prepared.set(name.text, cString(body, name.end).text);
        return;
      }
      case 'B': {
        const portal = cString(body, 0);
        reader.portals.set(portal.text, reader.prepared.get(cString(body, portal.end).text) ?? '?');
        return;
      }
      case 'E':
        this.statements.push(reader.portals.get(cString(body, 0).text) ?? '?');
        return;
    }
  }
}

/** One connection's byte stream, cut into messages. */
class WireReader {
  readonly prepared = new Map<string, string>();
  readonly portals = new Map<string, string>();
  private buffered: Buffer = Buffer.alloc(0);
  /** Until the startup message, messages have no type byte (SSLRequest, StartupMessage). */
  private started = false;

  push(chunk: Buffer, onMessage: (type: string, body: Buffer) => void): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      if (!this.started) {
        if (this.buffered.length < 8) return;
        const length = this.buffered.readInt32BE(0);
        if (this.buffered.length < length) return;
        const code = this.buffered.readInt32BE(4);
        // SSLRequest (80877103) and GSSENCRequest (80877104) come before the startup message.
        if (code !== 80877103 && code !== 80877104) this.started = true;
        this.buffered = this.buffered.subarray(length);
        continue;
      }
      if (this.buffered.length < 5) return;
      const total = 1 + this.buffered.readInt32BE(1);
      if (this.buffered.length < total) return;
      onMessage(String.fromCharCode(this.buffered[0]!), this.buffered.subarray(5, total));
      this.buffered = this.buffered.subarray(total);
    }
  }
}

function cString(buffer: Buffer, start: number): { text: string; end: number } {
  const zero = buffer.indexOf(0, start);
  const end = zero === -1 ? buffer.length : zero;
  return { text: buffer.toString('utf8', start, end), end: end + 1 };
}
