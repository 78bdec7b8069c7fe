// Package netlab measures Lectern over shaped networks: each client (a real
// headless Chromium running the pages' own client, /js/lectern.js) lives in a
// Linux network namespace of its own, joined to the host by a veth pair whose
// two ends are shaped with tc tbf (rate limits) and nftables (random loss).
// The lectern server runs on the host, on an address of the run's own.
//
// It needs root, ip (iproute2), tc, nft (nftables) and Chromium; see
// docs/netlab.md. The package's test runs one short scenario under go test;
// lectern-bench net runs them all.
package netlab
