//go:build race

package interop

// raceBuild makes the server binary the tests start a race-detector build too,
// as the test binary is: it finds races the clients provoke, and it shares the
// build cache with the rest of go test -race ./...
const raceBuild = true
