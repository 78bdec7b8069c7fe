package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads the request body into v: at most maxBody bytes, one JSON value,
// no unknown fields. Errors are *Error with code invalid_json or body_too_large.
func decodeJSON(c *gin.Context, maxBody int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		var e *Error
		if errors.As(err, &tooLarge) || errors.As(err, &e) {
			return err // too large, or too slow (bodyDeadline)
		}
		return errorf(http.StatusBadRequest, codeInvalidJSON, "cannot read the request body")
	}
	return unmarshalStrict(body, v)
}

// unmarshalStrict decodes exactly one JSON value with no unknown fields.
func unmarshalStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, codeInvalidJSON, "invalid JSON body: %s", jsonProblem(err))
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, codeInvalidJSON, "invalid JSON body: data after the first value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, codeInvalidJSON, "invalid JSON body: data after the first value")
	}
	return nil
}

// jsonProblem turns a decoder error into a short sentence without Go type names.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return typeErr.Field + ": wrong type " + typeErr.Value
		}
		return "wrong type " + typeErr.Value
	case errors.As(err, &syntaxErr):
		return "syntax error"
	default:
		return err.Error()
	}
}
