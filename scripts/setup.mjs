#!/usr/bin/env node
// Installs what zerostream needs on a fresh machine with only Node and npm:
// npm dependencies, nats-server and OpenBLAS (through apt when running as root), and the native build.
// Plain JavaScript with no dependencies: it runs before node_modules exists.
// Flags: --native-only (skip npm/apt), --force (rebuild native), --test (also what the tests need), --quiet.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const quiet = args.has("--quiet") || process.env.ZS_SETUP_QUIET === "1";
const log = (m) => { if (!quiet) process.stderr.write(`[setup] ${m}\n`); };
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: quiet ? ["ignore", "ignore", "inherit"] : "inherit", cwd: root, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")} exited with ${r.status}`);
}
function has(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}
function fail(msg) {
  process.stderr.write(`\nzerostream setup: ${msg}\n`);
  process.exit(1);
}

const major = Number(process.versions.node.split(".")[0]);
if (major < 20) fail(`Node ${process.versions.node} is too old: zerostream needs Node 20 or newer.`);

let aptUpdated = false;
function aptInstall(pkgs, why) {
  if (!isRoot) fail(`${why} is missing and this is not root: install the Debian package(s) ${pkgs.join(" ")} (sudo apt-get install ${pkgs.join(" ")}) and run again.`);
  if (!has("apt-get")) fail(`${why} is missing and apt-get is not available: install ${pkgs.join(" ")} with your package manager.`);
  log(`installing ${pkgs.join(" ")} through apt-get (${why} missing)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) { run("apt-get", ["update", "-qq"], { env }); aptUpdated = true; }
  run("apt-get", ["install", "-y", "-qq", ...pkgs], { env });
}

function npmDeps() {
  const stamp = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  const fresh = existsSync(stamp) && existsSync(lock) && statSync(stamp).mtimeMs >= statSync(lock).mtimeMs
    && existsSync(join(root, "node_modules", "tsx"));
  if (fresh) return;
  log("installing npm dependencies (npm ci)");
  run("npm", existsSync(lock) ? ["ci", "--no-audit", "--no-fund"] : ["install", "--no-audit", "--no-fund"]);
}

function natsServer() {
  if (has("nats-server") || process.env.NATS_SERVER_BIN) return;
  aptInstall(["nats-server"], "nats-server");
}

function openblas() {
  const headers = ["/usr/include/x86_64-linux-gnu/cblas.h", "/usr/include/cblas.h", "/usr/include/openblas/cblas.h",
    "/usr/include/aarch64-linux-gnu/cblas.h", "/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h"];
  if (headers.some((h) => existsSync(h))) return;
  aptInstall(["libopenblas-dev"], "OpenBLAS (cblas.h)");
}

function chromium() {
  // the report test renders the HTML report in Debian's headless Chromium
  if (has("chromium") || existsSync("/usr/bin/chromium")) return;
  aptInstall(["chromium"], "chromium (for the report test)");
}

function clusterTools() {
  // cluster up makes its CA and certificates with openssl; the network-namespace test needs ip (iproute2)
  if (!has("openssl")) aptInstall(["openssl"], "openssl (the cluster's certificates)");
  if (args.has("--test") && isRoot && !has("ip")) aptInstall(["iproute2"], "ip (iproute2, for the network-namespace cluster test)");
}

function toolchain() {
  // node-gyp needs a C++ compiler, make and python3; test/native/isa.test.ts disassembles the addon with objdump
  const missing = [["g++", "g++"], ["make", "make"], ["python3", "python3"]].filter(([bin]) => !has(bin)).map(([, pkg]) => pkg);
  if (missing.length) aptInstall(missing, `the native build's toolchain (${missing.join(", ")})`);
  if (args.has("--test") && !has("objdump")) aptInstall(["binutils"], "objdump (binutils, for the native ISA test)");
}

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== "build") newest = Math.max(newest, newestMtime(p)); }
    else if (/\.(cc|cpp|h|hpp|gyp)$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function nativeBuild() {
  const gyp = join(root, "native", "binding.gyp");
  if (!existsSync(gyp)) { log("native/binding.gyp not present yet: skipping the native build"); return; }
  const out = join(root, "native", "build", "Release", "zerostream_native.node");
  if (!args.has("--force") && existsSync(out) && statSync(out).mtimeMs >= newestMtime(join(root, "native"))) return;
  log("building the native engine (node-gyp)");
  const nodeGyp = join(root, "node_modules", "node-gyp", "bin", "node-gyp.js");
  if (!existsSync(nodeGyp)) fail("node-gyp is missing from node_modules: run npm ci.");
  // build against the installed Node headers (no download: this machine may reach only the npm registry)
  const nodedir = process.env.npm_config_nodedir || (existsSync("/usr/include/node/node.h") ? "/usr" : undefined);
  run(process.execPath, [nodeGyp, "rebuild", "-j", "max", ...(nodedir ? [`--nodedir=${nodedir}`] : [])], { cwd: join(root, "native") });
}

try {
  if (!args.has("--native-only")) {
    npmDeps();
    natsServer();
    if (args.has("--test")) chromium();
    clusterTools();
  }
  toolchain();
  openblas();
  nativeBuild();
} catch (err) {
  fail(err.message);
}
