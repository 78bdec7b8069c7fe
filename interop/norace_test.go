//go:build !race

package interop

// raceBuild: see race_test.go.
const raceBuild = false
