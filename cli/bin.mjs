#!/usr/bin/env node
// Entry point of the `zerostream` command: registers tsx so the TypeScript sources run as they are.
import { register } from "tsx/esm/api";
register();
const { main } = await import("./main.ts");
await main(process.argv.slice(2));
