// Harness (shared by test/ and scripts/; see harness/README.md): a real DNS server on loopback (the dns2
// package, UDP), answering from records the test changes while agents run. An unknown name is NXDOMAIN;
// `failing` makes it answer SERVFAIL to everything (a resolver that is up but broken).
import { createServer, Packet } from 'dns2';

export interface DnsRecords {
  srv?: { target: string; port: number }[];
  a?: string[];
  aaaa?: string[];
}

export interface TestDns {
  /** "127.0.0.1:port", for a provider's `servers`. */
  server: string;
  /** Replaces every record of `name` (undefined: the name no longer exists). */
  set(name: string, records: DnsRecords | undefined): void;
  failing: boolean;
  close(): Promise<void>;
}

export async function startDns(): Promise<TestDns> {
  const zone = new Map<string, DnsRecords>();
  const state = { failing: false };
  const server = createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [q] = request.questions;
      const records = zone.get(q.name.toLowerCase());
      if (state.failing) response.header.rcode = Packet.RCODE.SERVFAIL;
      else if (!records) response.header.rcode = Packet.RCODE.NXDOMAIN;
      else {
        // dns2 encodes a plain record object; its types only name the decoded class.
        const answer = (r: object) =>
          response.answers.push({ name: q.name, class: Packet.CLASS.IN, ttl: 1, ...r } as (typeof response.answers)[0]);
        if (q.type === Packet.TYPE.SRV)
          for (const r of records.srv ?? []) answer({ type: Packet.TYPE.SRV, priority: 10, weight: 10, ...r });
        if (q.type === Packet.TYPE.A) for (const address of records.a ?? []) answer({ type: Packet.TYPE.A, address });
        if (q.type === Packet.TYPE.AAAA)
          for (const address of records.aaaa ?? []) answer({ type: Packet.TYPE.AAAA, address });
      }
      send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  return {
    server: `127.0.0.1:${addresses.udp!.port}`,
    set: (name, records) => {
      if (records) zone.set(name.toLowerCase(), records);
      else zone.delete(name.toLowerCase());
    },
    get failing() {
      return state.failing;
    },
    set failing(v: boolean) {
      state.failing = v;
    },
    close: () => server.close(),
  };
}
