package webhook

import "errors"

// ErrBadSignature is returned by Verify for a missing, malformed or wrong
// signature.
var ErrBadSignature = errors.New("webhook: bad signature")

// ErrStale is returned by Verify for a signature made too long ago (or too
// far in the future): a replay, or clocks far apart.
var ErrStale = errors.New("webhook: signature time out of tolerance")
