// Membership: which members the cluster has, as this node knows them, and the rules that merge what
// other members tell it. Pure: no sockets, no timers, no region; the node acts on the changes it returns.
//
// Each member is (serverId, address, incarnation, state). A member's incarnation is chosen by the member
// itself when it starts (its start time in ms) and only grows, so a restarted member supersedes its old
// entry. Merging keeps, per id, the greatest (incarnation, state) with "left" above "alive" at the same
// incarnation. That order makes the merge commutative, associative and idempotent: whatever order and
// however often the same facts arrive, every member ends with the same list.
//
// A member that leaves, or that this node reaps after it stayed down, is forgotten but leaves a tombstone
// at its incarnation for `tombstoneMs`: an older report of it (still circulating from a member that has
// not heard yet) cannot bring it back, while the member restarted (a greater incarnation) can. Only a
// departure is passed on, with its age, so that a tombstone lives tombstoneMs from the departure wherever
// it travels (a node that hears of it late does not give it a new lifetime); what this node decided alone
// (a reap, a member it had no room for) stays here: another node may still hear that member.

export type MemberState = 'alive' | 'left';

export interface Member {
  serverId: string;
  /** Where it is dialed: its advertised "host:port". */
  address: string;
  /** Chosen by the member at start; 0 while unknown (a configured peer not yet heard from). */
  incarnation: number;
  state: MemberState;
  /** A departure only: how long ago it was first heard of (ms). */
  ageMs?: number;
}

export type MembershipChange =
  /** A member this node did not have (or had forgotten): add it and dial it. */
  | { kind: 'joined'; member: Member }
  /** A known member with a new incarnation: it restarted, maybe at another address. */
  | { kind: 'restarted'; member: Member; previous: Member }
  /** A known member left (or its registry entry went away): forget it. */
  | { kind: 'left'; member: Member }
  /** Someone reported this node itself as left or newer: it took a greater incarnation to refute that. */
  | { kind: 'refuted'; member: Member }
  /** Another node announces this node's serverId from another address: two nodes share an id. */
  | { kind: 'conflict'; member: Member };

export interface MembershipOptions {
  /** How long a forgotten member's tombstone blocks older reports of it. */
  tombstoneMs: number;
  /** Tombstones kept at most; the oldest go first. */
  maxTombstones?: number;
  /** Entries a gossip() returns at most (the receiver's limit); departures are left out first. */
  maxGossip?: number;
  now?: () => number;
}

interface Tombstone {
  incarnation: number;
  untilMs: number;
  /** A departure (passed on); false for what this node decided alone. */
  departure: boolean;
}

export class Membership {
  private readonly members = new Map<string, Member>();
  private readonly tombstones = new Map<string, Tombstone>();
  private me: Member;
  private readonly now: () => number;
  private readonly maxTombstones: number;

  constructor(
    self: Member,
    private readonly opts: MembershipOptions,
  ) {
    this.me = { ...self, state: 'alive' };
    this.now = opts.now ?? Date.now;
    this.maxTombstones = opts.maxTombstones ?? 4096;
  }

  /** This node's own entry. */
  get self(): Member {
    return this.me;
  }

  /** Sets the address this node announces (known once it listens). */
  advertise(address: string): void {
    this.me = { ...this.me, address };
  }

  get(serverId: string): Member | undefined {
    return this.members.get(serverId);
  }

  /** The members this node knows, itself not included. */
  list(): Member[] {
    return [...this.members.values()];
  }

  /** What this node tells others: itself, every member, and the recent departures with their age. */
  gossip(): Member[] {
    this.expireTombstones();
    const now = this.now();
    const departed = [...this.tombstones]
      .filter(([, t]) => t.departure && t.incarnation > 0)
      .map(([serverId, t]) => ({
        serverId,
        address: '',
        incarnation: t.incarnation,
        state: 'left' as const,
        ageMs: Math.max(0, this.opts.tombstoneMs - (t.untilMs - now)),
      }));
    return [this.me, ...this.members.values(), ...departed].slice(0, this.opts.maxGossip ?? 4096);
  }

  /** Merges one report; returns what changed, or null when it tells nothing new. */
  merge(report: Member): MembershipChange | null {
    if (report.serverId === this.me.serverId) return this.mergeSelf(report);
    const known = this.members.get(report.serverId);
    const tomb = this.tombstone(report.serverId);
    if (!known) {
      if (tomb && report.incarnation <= tomb.incarnation) return null;
      if (report.state === 'left') {
        this.bury(report.serverId, report.incarnation, true, report.ageMs);
        return null;
      }
      this.tombstones.delete(report.serverId);
      const member = { ...report };
      this.members.set(member.serverId, member);
      return { kind: 'joined', member };
    }
    const newer = report.incarnation > known.incarnation;
    const leaves = report.state === 'left' && report.incarnation >= known.incarnation;
    if (leaves) return this.forget(report.serverId, report.incarnation, report.ageMs);
    if (!newer) return null;
    const member = { ...report, address: report.address || known.address };
    this.members.set(member.serverId, member);
    // A configured peer's first report (incarnation 0 until then) is not a restart.
    return known.incarnation === 0 ? null : { kind: 'restarted', member, previous: known };
  }

  /**
   * Adds a member this node learned itself (configured, or connected to it directly); an entry at a greater
   * incarnation wins, and a direct connection lifts a tombstone (the member is evidently back).
   */
  add(member: Member): MembershipChange | null {
    this.tombstones.delete(member.serverId);
    return this.merge({ ...member, state: 'alive' });
  }

  /** Forgets a member this node itself decided is gone (reaped, or no room for it): not gossiped as left. */
  remove(serverId: string): void {
    const known = this.members.get(serverId);
    if (!known) return;
    this.members.delete(serverId);
    this.bury(serverId, known.incarnation, false);
  }

  /** Forgets a member that left at `incarnation` (its Leave, a registry's deletion), `ageMs` ago. */
  forget(serverId: string, incarnation?: number, ageMs = 0): MembershipChange | null {
    const known = this.members.get(serverId);
    if (!known) return null;
    const at = Math.max(incarnation ?? known.incarnation, known.incarnation);
    this.members.delete(serverId);
    this.bury(serverId, at, true, ageMs);
    return { kind: 'left', member: { ...known, incarnation: at, state: 'left', ageMs } };
  }

  private mergeSelf(report: Member): MembershipChange | null {
    const stale = report.incarnation < this.me.incarnation;
    const same = report.incarnation === this.me.incarnation;
    if (stale || (same && report.state === 'alive')) return null;
    // A newer "alive" from elsewhere is another node with this id: out-bidding it would never end.
    if (report.state === 'alive' && report.address !== this.me.address) return { kind: 'conflict', member: report };
    // Reported as left, or at an incarnation this node never had: take a greater one so ours wins.
    this.me = { ...this.me, incarnation: report.incarnation + 1 };
    return { kind: 'refuted', member: this.me };
  }

  private tombstone(serverId: string): Tombstone | undefined {
    const t = this.tombstones.get(serverId);
    if (t && t.untilMs <= this.now()) {
      this.tombstones.delete(serverId);
      return undefined;
    }
    return t;
  }

  private bury(serverId: string, incarnation: number, departure: boolean, ageMs = 0): void {
    const previous = this.tombstones.get(serverId);
    const untilMs = this.now() + this.opts.tombstoneMs - Math.min(ageMs, this.opts.tombstoneMs);
    if (untilMs <= this.now()) return; // heard of after its tombstone would have expired
    this.tombstones.delete(serverId); // re-inserted last: the map's order is oldest first
    this.tombstones.set(serverId, {
      incarnation: Math.max(incarnation, previous?.incarnation ?? 0),
      untilMs,
      departure: departure || (previous?.departure ?? false),
    });
    while (this.tombstones.size > this.maxTombstones) {
      const oldest = this.tombstones.keys().next().value as string;
      this.tombstones.delete(oldest);
    }
  }

  private expireTombstones(): void {
    const now = this.now();
    for (const [id, t] of this.tombstones) if (t.untilMs <= now) this.tombstones.delete(id);
  }
}
