export {
  selectBackend,
  AUTO_ORDER,
  type ResolvedBackendName,
  type BackendAttempt,
  type SelectedBackend,
} from './backend';
