package access

import "errors"

// Errors returned by this package. Token errors are distinct so that the API can
// answer each with its own stable code.
var (
	ErrInvalidPermissions = errors.New("access: invalid permissions")
	ErrInvalidTier        = errors.New("access: invalid tier")
	ErrInvalidSource      = errors.New("access: invalid media source")
	ErrTokenMalformed     = errors.New("access: token is malformed")
	ErrTokenExpired       = errors.New("access: token has expired")
	ErrTokenInvalid       = errors.New("access: token signature or claims are invalid")
	ErrWrongRoom          = errors.New("access: token is not valid for this room")
)
