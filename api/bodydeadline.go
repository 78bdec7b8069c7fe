package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// bodyDeadline gives a request's body BodyTimeout to arrive, counted from the
// end of its header (the HTTP server's header timeout covers that part): a
// client that trickles a body is cut, and a handler reading it gets a 408
// request_timeout. Requests without a body (websocket upgrades, HLS reloads
// that wait for a part) are left alone, and so is the connection once the
// body is read, so a handler may take its time to answer.
func (s *Server) bodyDeadline(c *gin.Context) {
	r := c.Request
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		c.Next()
		return
	}
	rc := http.NewResponseController(c.Writer)
	if rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)) != nil {
		c.Next() // a writer without deadlines (tests' recorders)
		return
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: s.cfg.BodyTimeout}
	c.Next()
}

// deadlineBody clears the read deadline once the body has been read to its
// end, and reports a missed deadline as 408.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	once    sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.once.Do(func() { b.rc.SetReadDeadline(time.Time{}) })
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, errorf(http.StatusRequestTimeout, codeRequestTimeout, "the request body did not arrive within %v", b.timeout)
	}
	return n, err
}
