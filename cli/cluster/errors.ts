// Named errors of the cluster commands: each says what happened and what to do.
import { ZeroStreamError } from "../../streams/errors.ts";

export class ClusterAlreadyRunningError extends ZeroStreamError {}
export class ClusterNotRunningError extends ZeroStreamError {}
export class ClusterStartError extends ZeroStreamError {}
export class ClusterSpecError extends ZeroStreamError {}
export class CredsFileError extends ZeroStreamError {}
export class ScaleError extends ZeroStreamError {}
export class ConnectionAsyncError extends ZeroStreamError {}
export class ChaosDeadlineError extends ZeroStreamError {}
export class PkiError extends ZeroStreamError {}
export class BundleError extends ZeroStreamError {}
