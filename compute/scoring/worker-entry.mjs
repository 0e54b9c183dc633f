// Entry of a scorer worker thread: registers tsx (resolved from this file, whatever the process's
// cwd or flags) so the TypeScript worker loads, then hands over to it.
import { register } from "tsx/esm/api";
register();
await import("./worker.ts");
