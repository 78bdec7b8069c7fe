// Package interop holds Lectern's client conformance suite: third-party
// clients that broadcasters and viewers already have (GStreamer, ffmpeg, VLC,
// Firefox ESR, hls.js and Shaka Player in Chromium) publish to and play from a
// real lectern binary, and every test checks that frames were decoded, not
// only that a connection opened. docs/clients.md lists the clients, the
// versions tested and the settings to use.
//
// The package has no code of its own: its tests build cmd/lectern, start it on
// loopback ports chosen by the OS and drive the clients as a person would; the
// failover test starts two cluster nodes of it on PostgreSQL and kills one. A
// test whose client is missing skips, except under CI=true, where it fails.
package interop
