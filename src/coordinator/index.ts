export {
  decideRendezvous,
  assignRanks,
  admit,
  describeShortfall,
  type Member,
  type Peer,
  type RendezvousState,
  type RendezvousAction,
} from './rendezvous';
export { expiredLeases, describeLost, type Lease } from './leases';
export { Job, type JobPhase, type JobOptions, type JoinOutcome } from './job';
export { CoordinatorService, TICK_MS } from './service';
export {
  startCoordinator,
  type CoordinatorOptions,
  type CoordinatorResult,
  type RunningCoordinator,
} from './run-coordinator';
