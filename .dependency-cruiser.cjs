// The allowed import directions between rooms (ARCHITECTURE in README.md), checked by `npm test`
// (test/architecture.test.ts) and drawn by `npm run deps:graph`. Top to bottom:
//   cli, scripts                      composition root and benchmarks: may import anything
//   producers/, consumers/            processes (generator, reward consumer, updater): thin shells
//   offline/                          offline tools (replay, audit, rescore, export, eval, report, pretrain)
//   compute/                          effectful engines shared by processes and tools (scorer pool, GRPO update)
//   loaders/                          data loading: tokenizers, datasets, corpus, templates, run contexts
//   native/                           the C++ engine's binding: knows no bus
//   domain/                           pure rules: reward, GRPO maths, the run fold, the updater's decider
//   streams/                          contracts (events, config schema, subjects) and the bus (event log, nats-server)
const room = (r) => `^${r}/`;
const contracts = "^streams/(events/|config[.]ts|errors[.]ts|templates[.]ts|subjects[.]ts)";
module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", comment: "rooms and modules form no cycles", from: {}, to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } } },
    { name: "processes-never-import-each-other", severity: "error",
      comment: "producers and consumers meet only through events",
      from: { path: "^(producers|consumers)/([^/]+)/" }, to: { path: "^(producers|consumers)/", pathNot: "^$1/$2/" } },
    { name: "processes-import-no-tools", severity: "error", from: { path: "^(producers|consumers)/" }, to: { path: "^(offline|cli|scripts)/" } },
    { name: "offline-imports-no-processes", severity: "error", from: { path: room("offline") }, to: { path: "^(producers|consumers|cli|scripts)/" } },
    { name: "compute-below-processes-and-tools", severity: "error", from: { path: room("compute") }, to: { path: "^(producers|consumers|offline|cli|scripts)/" } },
    { name: "loaders-are-data-only", severity: "error", from: { path: room("loaders") }, to: { path: "^(producers|consumers|offline|compute|native|cli|scripts)/" } },
    { name: "engine-knows-no-bus", severity: "error", comment: "native/ may read the config schema's types, nothing else of the project",
      from: { path: room("native") }, to: { path: "^(producers|consumers|offline|compute|loaders|domain|cli|scripts|streams)/", pathNot: "^streams/config[.]ts$" } },
    { name: "domain-imports-only-contracts", severity: "error", comment: "the domain is pure: contracts and itself",
      from: { path: room("domain") }, to: { path: "^(producers|consumers|offline|compute|loaders|native|cli|scripts|streams)/", pathNot: contracts } },
    { name: "domain-is-pure", severity: "error", comment: "no I/O in the domain",
      from: { path: room("domain") }, to: { dependencyTypes: ["core"], path: "^(fs|node:fs|child_process|node:child_process|net|node:net|worker_threads|node:worker_threads|http|node:http)" } },
    { name: "contracts-know-no-roles", severity: "error", from: { path: room("streams") }, to: { path: "^(producers|consumers|offline|compute|loaders|native|domain|cli|scripts)/" } },
    { name: "nothing-imports-tests", severity: "error", from: { pathNot: "^test/" }, to: { path: "^test/" } },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|native/build|\\.zerostream|reports)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".mjs", ".js"] },
  },
};
