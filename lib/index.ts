/**
 * Public entry point of the commy package: what `import … from 'commy'` resolves to.
 *
 * A node process runs one {@link ClusterNode}: it exchanges authenticated heartbeats with
 * its peers over TCP and is the only writer of its shared-memory region. Any other process
 * on the host reads that region with {@link ClusterView} (`snapshot()`, `getPeer()`,
 * `watch()`, `inspect()`, `route()`), with no socket and no IPC. Configuration is a {@link PeerConfig},
 * parsed and validated by {@link parseConfig} or {@link loadConfig}; every default is in
 * {@link defaults}; errors are {@link CommyError}s with a stable `code`.
 *
 * @packageDocumentation
 */
export {
  ClusterView,
  type ClusterSnapshot,
  type DiscoverySnapshot,
  type PeerSnapshot,
  type WatchHandle,
  type WatchOptions,
  type Inspection,
  type PeerDetails,
  type NodeDetails,
  type ArrivalStats,
  type DetectorSettings,
  type ViewKey,
  type WaitOptions,
} from './view.js';
export { type PeerTransition } from './transitions.js';
export { rankOwners, type RouteOwner, type RouteOptions } from './routing.js';
export {
  PeerRegistry,
  type PeerStatusChange,
  type RegistryOptions,
  type ConnectionRecord,
  type PeerRegistryEvents,
} from './registry/registry.js';
export { PeerInfo } from './registry/peer-info.js';
export { ConnectionPool, PeerConnection } from './registry/connection-pool.js';
export {
  PeerStatus,
  ConnectionState,
  computeClusterStatus,
  statusForMissed,
  ClusterStatus,
  type Thresholds,
} from './status.js';
export { parseConfig, loadConfig, type PeerConfig, type StaticPeer } from './registry/config.js';
export { phi, phiDefaults, type PhiDetectorSettings, type DetectorConfig } from './detector.js';
export { type DiscoveryConfig, type DnsDiscovery, type EtcdDiscovery } from './registry/discovery-config.js';
export {
  CommyError,
  ConfigError,
  ErrorCode,
  errorCodes,
  errorCodeInfo,
  isErrorCode,
  ExitCode,
  type ErrorCodeInfo,
  type ErrorCodeTable,
} from './errors.js';
export {
  RegionReader,
  RegionWriter,
  RegionImage,
  regionName,
  listRegionNames,
  type RegionInfo,
  type RegionKey,
  type ReaderOptions,
  type WriterLiveness,
  type WaitOutcome,
  type HeaderFields,
  type SlotFields,
  type SlotRecord,
} from './region/index.js';
export { defaults } from './defaults.js';
export {
  ClusterNode,
  type ClusterNodeOptions,
  type Explanation,
  type MigrationResult,
  type RejectedEvent,
  type Logger,
  type PeerOpinion,
  type ClusterNodeEvents,
  type ClientMigrationEvent,
  type MembershipEvent,
  type DiscoveryEvent,
} from './node.js';
export { type DialPolicy } from './transport/dialer.js';
export { RejectReason } from './protocol/errors.js';
export { MIGRATION_REASONS, type MigrationReason } from './protocol/messages.js';
