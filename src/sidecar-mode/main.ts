#!/usr/bin/env node
/**
 * The `mesh-sidecar` executable. It runs with V8's default tuning: `--optimize-for-size` (which an
 * earlier version set here) cost 59% more instructions per proxied request for 10-20 MB less
 * resident memory, and capping the young generation (`--max-semi-space-size`) trades the same way;
 * benchmarks/RESULTS.md has the table. A platform that prefers memory passes those flags in
 * NODE_OPTIONS.
 */
await import('./run.js');
