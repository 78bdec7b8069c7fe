package api

import (
	"bufio"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
)

// chatWriteBuffer is the write buffer of a chat websocket. A frame that fits
// in it, header and all, leaves in one system call; net/http hands hijacked
// connections a 4 KiB one, which splits a busy room's frames (a few KiB to a
// few tens of KiB) into two or three. At a thousand subscribers, system calls
// are most of the cost of delivery.
const chatWriteBuffer = 32 << 10

// bufferedHijack is a response writer whose Hijack returns a larger write
// buffer, for websocket.Accept.
type bufferedHijack struct {
	gin.ResponseWriter
}

// Hijack hands over the connection with a chatWriteBuffer-byte writer. The
// response header is already written; the writer net/http returns is empty.
func (h bufferedHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := h.ResponseWriter.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	brw.Writer = bufio.NewWriterSize(conn, chatWriteBuffer)
	return conn, brw, nil
}

var _ http.Hijacker = bufferedHijack{}
