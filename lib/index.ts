// Public entry point of the commy package.
export { ClusterView, type ClusterSnapshot, type PeerSnapshot, type WatchHandle } from './view.js';
export {
  PeerRegistry,
  type PeerStatusChange,
  type RegistryOptions,
  type ConnectionRecord,
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
export {
  CommyError,
  ConfigError,
  ErrorCode,
  errorCodes,
  errorCodeInfo,
  isErrorCode,
  ExitCode,
  type ErrorCodeInfo,
} from './errors.js';
export { RegionReader, RegionWriter, regionName, listRegionNames, type RegionInfo } from './region/index.js';
export { defaults } from './defaults.js';
export {
  ClusterNode,
  type ClusterNodeOptions,
  type Explanation,
  type MigrationResult,
  type RejectedEvent,
  type Logger,
} from './node.js';
export { MIGRATION_REASONS, type MigrationReason } from './protocol/messages.js';
