package webhook_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: Run
// must return only once everything it started has.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
